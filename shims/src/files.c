/* xbuild-shim: lists of paths, small files, the state file. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

/* ---- lists of paths (fixed capacity; running out is an error, never a silent drop) ---- */

#define MAX_ENTRIES 1024
#define LIST_POOL (128 * 1024)

struct list {
    int n, overflow;
    usize used;
    u32 off[MAX_ENTRIES];
    char pool[LIST_POOL];
};

static const char *at(const struct list *l, int i) { return l->pool + l->off[i]; }

static int list_has(const struct list *l, const char *p)
{
    for (int i = 0; i < l->n; i++)
        if (seq(at(l, i), p)) return 1;
    return 0;
}

/* Adds `p` once; 0, or -E2BIG (and l->overflow) when the list is full. */
static int list_add(struct list *l, const char *p)
{
    if (list_has(l, p)) return 0;
    usize pl = slen(p) + 1;
    if (l->n >= MAX_ENTRIES || l->used + pl > LIST_POOL) { l->overflow = 1; return -E2BIG; }
    memcpy(l->pool + l->used, p, pl);
    l->off[l->n++] = (u32)l->used;
    l->used += pl;
    return 0;
}

static void list_remove(struct list *l, const char *p)
{
    for (int i = 0; i < l->n; i++)
        if (seq(at(l, i), p)) {
            for (int j = i; j + 1 < l->n; j++) l->off[j] = l->off[j + 1];
            l->n--;
            return;
        }
}

static void list_clear(struct list *l) { l->n = 0; l->used = 0; l->overflow = 0; }

static void list_copy(struct list *d, const struct list *s)
{
    d->n = s->n;
    d->used = s->used;
    d->overflow = s->overflow;
    memcpy(d->off, s->off, sizeof d->off[0] * (usize)s->n);
    memcpy(d->pool, s->pool, s->used);
}

/* At most 8 entries, then how many there are in all. */
static void m_list(const struct list *l)
{
    for (int i = 0; i < l->n && i < 8; i++) {
        if (i) m(", ");
        m(at(l, i));
    }
    if (l->n > 8) { m(", ... ("); m_num(l->n); m(" in all)"); }
}

/* ---- small files ---- */

/* Reads a whole file into buf (NUL-terminated); its length, -E2BIG when it does not fit, or -errno. */
static isize read_small(const char *path, char *buf, usize cap)
{
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    isize total = 0;
    for (;;) {
        if ((usize)total == cap - 1) { total = -E2BIG; break; }
        isize n = sys_read(fd, buf + total, cap - 1 - (usize)total);
        if (n < 0) { total = n; break; }
        if (n == 0) break;
        total += n;
    }
    sys_close(fd);
    if (total >= 0) buf[total] = 0;
    return total;
}

/* Adds every absolute path line of `text` (comments and blanks skipped); 0 or -E2BIG. */
static int lines_into(struct list *l, char *text)
{
    char *p = text;
    int r = 0;
    while (*p) {
        char *e = p;
        while (*e && *e != '\n') e++;
        char c = *e;
        *e = 0;
        while (*p == ' ' || *p == '\t') p++;
        char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r')) *--t = 0;
        if (*p == '/' && list_add(l, p)) r = -E2BIG;
        if (!c) break;
        p = e + 1;
    }
    return r;
}

static char state_text[LIST_POOL + 1];

/* 0 (l filled), -ENOENT (cross-build mode is off), or another -errno. */
static int read_state(struct list *l)
{
    list_clear(l);
    isize n = read_small(XB_STATE_FILE, state_text, sizeof state_text);
    if (n < 0) return (int)n;
    return lines_into(l, state_text);
}

/* Writes `len` bytes to `path` atomically (temporary file + rename); 0 or -errno. */
static int write_atomic(const char *path, const char *data, usize len, int mode)
{
    static char tmp[PATH_MAX];
    int r = join2(tmp, path, slen(path), ".xbuild-tmp");
    if (r) return r;
    sys_unlink(tmp);
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) return fd;
    while (len) {
        isize n = sys_write(fd, data, len);
        if (n <= 0) { sys_close(fd); sys_unlink(tmp); return n < 0 ? (int)n : -EIO; }
        data += n;
        len -= (usize)n;
    }
    sys3(SYS_fchmod, fd, mode, 0);
    sys_close(fd);
    r = sys_rename(tmp, path);
    if (r) sys_unlink(tmp);
    return r;
}

/* Writes `text` to `path` only when the file's content differs (so a second start touches nothing). */
static int write_if_changed(const char *path, const char *text, usize n, int mode)
{
    static char old[LIST_POOL + 2];
    isize have = read_small(path, old, sizeof old);
    if (have == (isize)n && memcmp(old, text, n) == 0) return 0;
    return write_atomic(path, text, n, mode);
}

static int write_state(const struct list *l)
{
    static char buf[LIST_POOL + 1];
    usize n = 0;
    for (int i = 0; i < l->n; i++) {
        usize pl = slen(at(l, i));
        memcpy(buf + n, at(l, i), pl);
        n += pl;
        buf[n++] = '\n';
    }
    struct kstat st;
    if (sys_stat(XB_STATE_DIR, &st) != 0) {
        int r = sys_mkdir(XB_STATE_DIR, 0755);
        if (r && r != -EEXIST) return r;
    }
    return write_if_changed(XB_STATE_FILE, buf, n, 0644);
}

static int exists(const char *p)
{
    struct kstat st;
    return sys_lstat(p, &st) == 0;
}

/* path + suffix into out (PATH_MAX); 0 or -ENAMETOOLONG */
static int with_suffix(char *out, const char *path, const char *suffix) { return join2(out, path, slen(path), suffix); }
#define NEW_SUFFIX ".xbuild-new"

