/*
 * xbuild-shim: the one host-native program xbuild puts into an ARM image
 * besides the emulator. x86_64 Linux, static, no libc: raw system calls only,
 * so it needs nothing from the image and nothing from the host.
 *
 * It plays three roles, chosen by the name it was started under (AT_EXECFN,
 * with symlinks in the last component followed):
 *   .../cross-build-start   swap the image's shells for copies of this program
 *   .../cross-build-end     put the originals back
 *   anything else           a swapped shell: exec the original under the
 *                           execve-intercepting emulator, argv[0] unchanged
 *
 * Design, file layout and in-image contract: shims/README.md.
 * Built by src/shims/build.ts, which passes the contract names below as -D
 * flags (from src/shims/contract.ts) so that they have one source of truth.
 */

#if !defined(XB_ORIGINAL_SUFFIX) || !defined(XB_STATE_FILE) || !defined(XB_STATE_DIR) || \
    !defined(XB_EMULATOR_PREFIX) || !defined(XB_EMULATOR_SUFFIX) || !defined(XB_START_NAME) || \
    !defined(XB_END_NAME) || !defined(XB_SHIM_VERSION) || !defined(XB_NOTE_NAME) || \
    !defined(XB_NT_SHIM) || !defined(XB_NT_EXECVE) || !defined(XB_EXECVE_FLAG) || !defined(XB_DPKG_HOOK)
#error "build with src/shims/build.ts (ensureShim), which defines the contract names"
#endif

typedef unsigned long usize;
typedef long isize;
typedef unsigned char u8;
typedef unsigned short u16;
typedef unsigned int u32;
typedef unsigned long u64;

/* ---- the ELF note that marks this binary (read by verify without running it) ---- */

#define XB_STR2(x) #x
#define XB_STR(x) XB_STR2(x)
#define XB_SHIM_DESC "shim version=" XB_STR(XB_SHIM_VERSION)

__asm__(
    ".pushsection .note.xbuild,\"a\",@note\n"
    ".balign 4\n"
    ".long 2f - 1f\n"              /* namesz, NUL included */
    ".long 4f - 3f\n"              /* descsz, ASCII without NUL */
    ".long " XB_STR(XB_NT_SHIM) "\n"
    "1: .asciz \"" XB_NOTE_NAME "\"\n"
    "2: .balign 4\n"
    "3: .ascii \"" XB_SHIM_DESC "\"\n"
    "4: .balign 4\n"
    ".popsection\n");

/* ---- system calls ---- */

#define SYS_read 0
#define SYS_write 1
#define SYS_close 3
#define SYS_fstat 5
#define SYS_mmap 9
#define SYS_pread64 17
#define SYS_execve 59
#define SYS_fchmod 91
#define SYS_fchown 93
#define SYS_exit_group 231
#define SYS_openat 257
#define SYS_mkdirat 258
#define SYS_newfstatat 262
#define SYS_unlinkat 263
#define SYS_renameat 264
#define SYS_linkat 265
#define SYS_readlinkat 267
#define SYS_getdents64 217
#define SYS_renameat2 316

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define O_CLOEXEC 02000000
#define O_DIRECTORY 0200000
#define RENAME_EXCHANGE 2
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define AT_NULL 0
#define AT_SECURE 23
#define AT_EXECFN 31

#define EPERM 1
#define ENOENT 2
#define EIO 5
#define E2BIG 7
#define ENOEXEC 8
#define ENOMEM 12
#define EACCES 13
#define EEXIST 17
#define EXDEV 18
#define ENOTDIR 20
#define EISDIR 21
#define EINVAL 22
#define ETXTBSY 26
#define ENOSPC 28
#define EROFS 30
#define ENAMETOOLONG 36
#define ENOSYS 38
#define ELOOP 40

static isize sys6(isize n, isize a, isize b, isize c, isize d, isize e, isize f)
{
    register isize r10 __asm__("r10") = d;
    register isize r8 __asm__("r8") = e;
    register isize r9 __asm__("r9") = f;
    isize ret;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}
#define sys3(n, a, b, c) sys6((n), (isize)(a), (isize)(b), (isize)(c), 0, 0, 0)
#define sys5(n, a, b, c, d, e) sys6((n), (isize)(a), (isize)(b), (isize)(c), (isize)(d), (isize)(e), 0)

struct kstat {
    u64 dev, ino, nlink;
    u32 mode, uid, gid, pad0;
    u64 rdev;
    isize size, blksize, blocks;
    u64 atime, atime_ns, mtime, mtime_ns, ctime, ctime_ns;
    isize unused[3];
};

static int sys_open(const char *p, int flags, int mode) { return (int)sys5(SYS_openat, AT_FDCWD, p, flags, mode, 0); }
static isize sys_read(int fd, void *b, usize n) { return sys3(SYS_read, fd, b, n); }
static isize sys_pread(int fd, void *b, usize n, u64 off) { return sys5(SYS_pread64, fd, b, n, off, 0); }
static isize sys_write(int fd, const void *b, usize n) { return sys3(SYS_write, fd, b, n); }
static void sys_close(int fd) { sys3(SYS_close, fd, 0, 0); }
static int sys_stat(const char *p, struct kstat *st) { return (int)sys5(SYS_newfstatat, AT_FDCWD, p, st, 0, 0); }
static int sys_lstat(const char *p, struct kstat *st) { return (int)sys5(SYS_newfstatat, AT_FDCWD, p, st, AT_SYMLINK_NOFOLLOW, 0); }
static isize sys_readlink(const char *p, char *b, usize n) { return sys5(SYS_readlinkat, AT_FDCWD, p, b, n, 0); }
static int sys_rename(const char *a, const char *b) { return (int)sys5(SYS_renameat, AT_FDCWD, a, AT_FDCWD, b, 0); }
static int sys_link(const char *a, const char *b) { return (int)sys5(SYS_linkat, AT_FDCWD, a, AT_FDCWD, b, 0); }
static int sys_unlink(const char *p) { return (int)sys3(SYS_unlinkat, AT_FDCWD, p, 0); }
static int sys_mkdir(const char *p, int mode) { return (int)sys3(SYS_mkdirat, AT_FDCWD, p, mode); }
static int sys_exchange(const char *a, const char *b) { return (int)sys5(SYS_renameat2, AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE); }
static void *sys_alloc(usize n)
{
    isize r = sys6(SYS_mmap, 0, (isize)n, 3 /* PROT_READ|PROT_WRITE */, 0x22 /* MAP_PRIVATE|MAP_ANONYMOUS */, -1, 0);
    return r < 0 && r > -4096 ? 0 : (void *)r;
}

/* gcc may emit calls to these even with -ffreestanding */
void *memcpy(void *d, const void *s, usize n)
{
    u8 *dp = d;
    const u8 *sp = s;
    while (n--) *dp++ = *sp++;
    return d;
}
void *memset(void *d, int c, usize n)
{
    u8 *dp = d;
    while (n--) *dp++ = (u8)c;
    return d;
}
int memcmp(const void *a, const void *b, usize n)
{
    const u8 *x = a, *y = b;
    for (; n; n--, x++, y++)
        if (*x != *y) return *x - *y;
    return 0;
}

/* ---- strings ---- */

#define PATH_MAX 4096

static usize slen(const char *s)
{
    usize n = 0;
    while (s[n]) n++;
    return n;
}
static int seq(const char *a, const char *b)
{
    while (*a && *a == *b) a++, b++;
    return *a == *b;
}
static const char *base_name(const char *p)
{
    const char *b = p;
    for (; *p; p++)
        if (*p == '/') b = p + 1;
    return b;
}
/* out = a + b, or -ENAMETOOLONG */
static int join2(char *out, const char *a, usize alen, const char *b)
{
    usize bl = slen(b);
    if (alen + bl + 1 > PATH_MAX) return -ENAMETOOLONG;
    memcpy(out, a, alen);
    memcpy(out + alen, b, bl + 1);
    return 0;
}

/* One-line messages, assembled then written with one write(2). */
static char msg[8192];
static usize msg_len;
static void m(const char *s)
{
    while (*s && msg_len < sizeof msg - 2) msg[msg_len++] = *s++;
}
static void m_num(long v)
{
    char b[24];
    int i = 0;
    if (v < 0) { m("-"); v = -v; }
    do { b[i++] = (char)('0' + v % 10); v /= 10; } while (v);
    while (i) { char c[2] = {b[--i], 0}; m(c); }
}
static const char *err_name(int e)
{
    switch (e < 0 ? -e : e) {
    case EPERM: return "operation not permitted";
    case ENOENT: return "no such file or directory";
    case EIO: return "input/output error";
    case E2BIG: return "argument list too long";
    case ENOEXEC: return "exec format error";
    case ENOMEM: return "out of memory";
    case EACCES: return "permission denied";
    case EEXIST: return "file exists";
    case EXDEV: return "cross-device link";
    case ENOTDIR: return "not a directory";
    case EISDIR: return "is a directory";
    case ETXTBSY: return "text file busy";
    case ENOSPC: return "no space left on device";
    case EROFS: return "read-only file system";
    case ENAMETOOLONG: return "file name too long";
    case ENOSYS: return "function not implemented";
    case ELOOP: return "too many levels of symbolic links";
    default: return "error";
    }
}
static void m_err(int e)
{
    m(err_name(e));
    m(" (errno ");
    m_num(e < 0 ? -e : e);
    m(")");
}
static void m_flush(int fd)
{
    msg[msg_len++] = '\n';
    const char *p = msg;
    while (msg_len) {
        isize n = sys_write(fd, p, msg_len);
        if (n <= 0) break;
        p += n;
        msg_len -= (usize)n;
    }
    msg_len = 0;
}

/* ---- paths ---- */

/*
 * Follows symlinks in the last component of `path` until it names a file that
 * is not a symlink. Relative targets are joined to the link's directory as
 * written; the kernel resolves directory components (merged /usr) exactly as
 * it would have for the link itself, so the result names the same file.
 */
static int resolve_final(const char *path, char *out)
{
    static char link[PATH_MAX];
    usize pl = slen(path);
    if (pl + 1 > PATH_MAX) return -ENAMETOOLONG;
    memcpy(out, path, pl + 1);
    for (int hops = 0; hops < 40; hops++) {
        isize n = sys_readlink(out, link, PATH_MAX - 1);
        if (n == -EINVAL) return 0; /* not a symlink */
        if (n < 0) return (int)n;
        link[n] = 0;
        if (link[0] == '/') {
            memcpy(out, link, (usize)n + 1);
        } else {
            usize dl = (usize)(base_name(out) - out);
            if (dl + (usize)n + 1 > PATH_MAX) return -ENAMETOOLONG;
            memcpy(out + dl, link, (usize)n + 1);
        }
    }
    return -ELOOP;
}

/* ---- ELF ---- */

#define EM_ARM 40
#define EM_X86_64 62
#define EM_AARCH64 183
#define ET_EXEC 2
#define ET_DYN 3
#define PT_DYNAMIC 2
#define PT_NOTE 4
#define DT_NULL 0
#define DT_SONAME 14
#define DT_FLAGS_1 0x6ffffffb
#define DF_1_PIE 0x08000000

struct elf_info {
    int elf;       /* 1 when the file starts with an ELF identification */
    int cls;       /* 1 = ELF32, 2 = ELF64 */
    int machine;   /* e_machine, little-endian files only (0 otherwise) */
    int program;   /* an executable: ET_EXEC, or ET_DYN that is a PIE rather than a shared object */
    int xb_shim;   /* carries the xbuild shim note */
    int xb_execve; /* carries the xbuild execve-intercept note */
};

static u64 rd(const u8 *p, int n)
{
    u64 v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* The xbuild notes of one PT_NOTE segment. */
static void read_notes(int fd, u64 off, u64 size, struct elf_info *ei)
{
    u8 notes[1024];
    if (size > sizeof notes) size = sizeof notes;
    isize got = sys_pread(fd, notes, size, off);
    for (u64 o = 0; got >= 12 && o + 12 <= (u64)got;) {
        u64 namesz = rd(notes + o, 4), descsz = rd(notes + o + 4, 4), type = rd(notes + o + 8, 4);
        u64 name = o + 12, desc = name + ((namesz + 3) & ~3ul), next = desc + ((descsz + 3) & ~3ul);
        if (next > (u64)got) break;
        if (namesz == sizeof XB_NOTE_NAME && memcmp(notes + name, XB_NOTE_NAME, namesz) == 0) {
            if (type == XB_NT_SHIM && descsz >= 13 && memcmp(notes + desc, "shim version=", 13) == 0) ei->xb_shim = 1;
            if (type == XB_NT_EXECVE) ei->xb_execve = 1;
        }
        o = next;
    }
}

/*
 * An ET_DYN file is a program unless it is a shared object: it names itself
 * (DT_SONAME: ld-linux, libc.so.6, which are runnable too) and is not marked
 * DF_1_PIE.
 */
static int dyn_is_program(int fd, u64 off, u64 size, int cls)
{
    int esz = cls == 2 ? 16 : 8, half = esz / 2, soname = 0, pie = 0;
    u8 d[16];
    for (u64 o = 0; o + (u64)esz <= size && o < 65536; o += (u64)esz) {
        if (sys_pread(fd, d, (usize)esz, off + o) != esz) break;
        u64 tag = rd(d, half), val = rd(d + half, half);
        if (tag == DT_NULL) break;
        if (tag == DT_SONAME) soname = 1;
        if (tag == DT_FLAGS_1 && (val & DF_1_PIE)) pie = 1;
    }
    return pie || !soname;
}

/* Reads the ELF header, the program headers and, for x86_64 files, the xbuild notes. */
static void inspect_fd(int fd, struct elf_info *ei)
{
    u8 h[64];
    memset(ei, 0, sizeof *ei);
    if (sys_pread(fd, h, sizeof h, 0) < 52) return;
    if (!(h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F')) return;
    ei->elf = 1;
    ei->cls = h[4];
    if (h[5] != 1 || (ei->cls != 1 && ei->cls != 2)) return; /* big-endian: not ours */
    ei->machine = (int)rd(h + 18, 2);
    int type = (int)rd(h + 16, 2), is64 = ei->cls == 2;
    ei->program = type == ET_EXEC;
    u64 phoff = is64 ? rd(h + 32, 8) : rd(h + 28, 4);
    u64 phentsize = rd(h + (is64 ? 54 : 42), 2), phnum = rd(h + (is64 ? 56 : 44), 2);
    if (phentsize < (is64 ? 56u : 32u) || phnum > 64) return;
    int has_dynamic = 0;
    for (u64 i = 0; i < phnum; i++) {
        u8 ph[56];
        if (sys_pread(fd, ph, is64 ? 56 : 32, phoff + i * phentsize) != (is64 ? 56 : 32)) return;
        u64 pt = rd(ph, 4), off = is64 ? rd(ph + 8, 8) : rd(ph + 4, 4), size = is64 ? rd(ph + 32, 8) : rd(ph + 16, 4);
        if (pt == PT_DYNAMIC && type == ET_DYN) has_dynamic = 1, ei->program = dyn_is_program(fd, off, size, ei->cls);
        if (pt == PT_NOTE && is64 && ei->machine == EM_X86_64) read_notes(fd, off, size, ei);
    }
    if (type == ET_DYN && !has_dynamic) ei->program = 1; /* static-pie without PT_DYNAMIC */
}

/* 0, or -errno when the file cannot be opened */
static int inspect_path(const char *path, struct elf_info *ei)
{
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    inspect_fd(fd, ei);
    sys_close(fd);
    return 0;
}

/* The guest architectures, compared by value: ELF class and machine. */
struct guest_arch {
    int cls, machine;
    const char *qemu;
};
static const struct guest_arch arches[] = {{1, EM_ARM, "arm"}, {2, EM_AARCH64, "aarch64"}};

static const struct guest_arch *guest_arch_of(const struct elf_info *ei)
{
    for (usize i = 0; i < sizeof arches / sizeof arches[0]; i++)
        if (ei->elf && ei->cls == arches[i].cls && ei->machine == arches[i].machine) return &arches[i];
    return 0;
}

static void emulator_path(char *out, const char *arch)
{
    usize n = 0;
    const char *parts[3] = {XB_EMULATOR_PREFIX, arch, XB_EMULATOR_SUFFIX};
    for (int i = 0; i < 3; i++)
        for (const char *s = parts[i]; *s; s++) out[n++] = *s;
    out[n] = 0;
}

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

/* ---- role: a swapped shell ---- */

static int starts_with(const char *s, const char *prefix)
{
    while (*prefix)
        if (*s++ != *prefix++) return 0;
    return 1;
}

/* The file this program was started from, by device and inode; 0 or -errno. */
static int own_inode(const char *execfn, struct kstat *st)
{
    /* fexecve/execveat: AT_EXECFN is /dev/fd/N or /dev/fd/N/NAME, with N still open unless close-on-exec */
    if (starts_with(execfn, "/dev/fd/")) {
        const char *p = execfn + 8;
        int fd = 0;
        while (*p >= '0' && *p <= '9') fd = fd * 10 + (*p++ - '0');
        int r = -ENOENT;
        if (*p == 0) r = (int)sys5(SYS_fstat, fd, st, 0, 0, 0);
        else if (*p == '/') r = (int)sys5(SYS_newfstatat, fd, p + 1, st, 0, 0);
        if (r == 0) return 0;
    }
    return sys_stat("/proc/self/exe", st);
}

/*
 * Finds the original when the name this program was started under does not
 * lead to it (fexecve, execveat, a name longer than PATH_MAX): the state file
 * entry that is this very file (same device and inode). With hard links, the
 * entry whose base name is argv[0]'s wins. 0 (orig filled) or -errno.
 */
static int original_by_inode(const char *execfn, const char *argv0, char *orig)
{
    static struct list state;
    struct kstat me, st;
    int r = own_inode(execfn, &me);
    if (r) return r;
    r = read_state(&state);
    if (r) return r;
    int found = -1;
    for (int i = 0; i < state.n; i++) {
        if (sys_stat(at(&state, i), &st) != 0 || st.dev != me.dev || st.ino != me.ino) continue;
        if (found < 0 || (argv0 && seq(base_name(at(&state, i)), base_name(argv0)))) found = i;
    }
    if (found < 0) return -ENOENT;
    return with_suffix(orig, at(&state, found), XB_ORIGINAL_SUFFIX);
}

/* Opens the original of the shell started as execfn/argv0 (orig filled); fd, or -errno of the first attempt. */
static int open_original(const char *execfn, const char *argv0, char *orig)
{
    static char resolved[PATH_MAX];
    const char *names[2] = {execfn, 0};
    /*
     * The kernel gives AT_EXECFN = the path that was exec'd. When this shim is
     * the interpreter of a `#!` script, that is the script; argv[0] then holds
     * the interpreter path from the `#!` line, which is tried second.
     */
    if (argv0 && argv0[0] && !seq(argv0, execfn))
        for (const char *p = argv0; *p; p++)
            if (*p == '/') { names[1] = argv0; break; }
    int first_err = 0;
    for (int i = 0; i < 2 && names[i]; i++) {
        int r = resolve_final(names[i], resolved);
        if (!r) r = with_suffix(orig, resolved, XB_ORIGINAL_SUFFIX);
        if (!r) {
            int fd = sys_open(orig, O_RDONLY | O_CLOEXEC, 0);
            if (fd >= 0) return fd;
            r = fd;
        }
        if (!first_err) first_err = r;
    }
    if (original_by_inode(execfn, argv0, orig) == 0) {
        int fd = sys_open(orig, O_RDONLY | O_CLOEXEC, 0);
        if (fd >= 0) return fd;
    }
    return first_err ? first_err : -ENOENT;
}

static int is_qemu_var(const char *e) { return starts_with(e, "QEMU_"); }

static int run_shell(const char *execfn, int argc, char **argv, char **envp, int secure)
{
    static char orig[PATH_MAX], emu[128];
    const char *argv0 = argc > 0 && argv[0] ? argv[0] : 0;
    int fd = open_original(execfn, argv0, orig);
    if (fd < 0) {
        if (with_suffix(orig, execfn, XB_ORIGINAL_SUFFIX) != 0) orig[0] = 0;
        m("xbuild-shim: cannot open ");
        m(orig);
        m(": ");
        m_err(fd);
        m(": cross-build mode is not on for ");
        m(execfn);
        m(" (run cross-build-start)");
        m_flush(2);
        return 127;
    }
    struct elf_info ei;
    inspect_fd(fd, &ei);
    sys_close(fd);
    const struct guest_arch *ga = guest_arch_of(&ei);
    if (!ga) {
        m("xbuild-shim: ");
        m(orig);
        m(" is not a little-endian ARM or AArch64 ELF program");
        m_flush(2);
        return 126;
    }
    emulator_path(emu, ga->qemu);

    /* emulator -execve -0 argv0 -- original args... : one exec, same process. Not on the stack: argc is unbounded. */
    int envc = 0;
    while (envp[envc]) envc++;
    char **nargv = sys_alloc(sizeof(char *) * ((usize)argc + 7 + (usize)envc + 1));
    if (!nargv) {
        m("xbuild-shim: cannot run "); m(orig); m(": "); m_err(-ENOMEM);
        m_flush(2);
        return 126;
    }
    int n = 0;
    nargv[n++] = emu;
    nargv[n++] = XB_EXECVE_FLAG;
    nargv[n++] = "-0";
    nargv[n++] = (char *)(argv0 ? argv0 : execfn);
    nargv[n++] = "--";
    nargv[n++] = orig;
    for (int i = 1; i < argc; i++) nargv[n++] = argv[i];
    nargv[n++] = 0;
    /* A privileged start (AT_SECURE) must not let the caller steer the emulator: drop QEMU_* */
    char **nenvp = envp;
    if (secure) {
        nenvp = nargv + n;
        int k = 0;
        for (int i = 0; i < envc; i++)
            if (!is_qemu_var(envp[i])) nenvp[k++] = envp[i];
        nenvp[k] = 0;
    }
    int e = (int)sys3(SYS_execve, emu, nargv, nenvp);
    m("xbuild-shim: cannot run ");
    m(emu);
    m(" for ");
    m(orig);
    m(": ");
    m_err(e);
    m_flush(2);
    return e == -ENOENT ? 127 : 126;
}

/* ---- swapping one file, and undoing interrupted swaps ---- */

/*
 * Replaces `path` (a guest program) by the shim file `tmp` (path.xbuild-new);
 * the original keeps its inode at path.xbuild-orig. `path` always names a
 * complete file: the original is hard-linked first; where link() is refused
 * (EPERM for a file of an unmapped owner in a rootless user namespace, or a
 * file system without hard links) the two are exchanged atomically
 * (RENAME_EXCHANGE) and the original then moved to its place.
 */
static int swap_name(const char *path, const char *tmp, const char *orig)
{
    sys_unlink(orig); /* a stale original (the package manager replaced `path` meanwhile) gives way */
    int r = sys_link(path, orig);
    if (r == 0) {
        r = sys_rename(tmp, path);
        if (r) { sys_unlink(orig); sys_unlink(tmp); }
        return r;
    }
    r = sys_exchange(tmp, path);
    if (r == 0) {
        r = sys_rename(tmp, orig);
        if (r) { sys_exchange(tmp, path); sys_unlink(tmp); }
        return r;
    }
    if (r != -EINVAL && r != -ENOSYS) { sys_unlink(tmp); return r; }
    /* no RENAME_EXCHANGE here: a moment without `path`, which recover_name() undoes if interrupted */
    r = sys_rename(path, orig);
    if (r == 0) {
        r = sys_rename(tmp, path);
        if (r) sys_rename(orig, path);
    }
    sys_unlink(tmp);
    return r;
}

/* Writes a copy of the shim to `tmp` with the original's owner and mode, never set-id bits. */
static int write_shim(const char *tmp, const char *shim, usize shim_len, const struct kstat *st)
{
    sys_unlink(tmp);
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0700);
    if (fd < 0) return fd;
    while (shim_len) {
        isize n = sys_write(fd, shim, shim_len);
        if (n <= 0) { sys_close(fd); sys_unlink(tmp); return n < 0 ? (int)n : -EIO; }
        shim += n;
        shim_len -= (usize)n;
    }
    sys3(SYS_fchown, fd, st->uid, st->gid); /* best effort: same owner as the original */
    /* fchown may have cleared set-id bits; they must never be set: a set-id shim would hand the caller's QEMU_* to a privileged emulator */
    sys3(SYS_fchmod, fd, st->mode & 0777, 0);
    sys_close(fd);
    return 0;
}

static int is_shim_file(const char *p)
{
    struct elf_info ei;
    return inspect_path(p, &ei) == 0 && ei.xb_shim;
}

/*
 * Puts one name back into a consistent state after an interrupted swap or
 * restore, before anything else looks at it:
 *   path missing, .xbuild-orig and a shim .xbuild-new  rename fallback stopped half-way: the original goes back
 *   path the shim, no .xbuild-orig, .xbuild-new not    exchange done, move not: the original goes back
 *   .xbuild-orig the same inode as path                 link done, rename not: the extra link goes
 *   a shim .xbuild-new otherwise                        a leftover copy: removed
 * It never removes the last name of an original.
 */
static void recover_name(const char *path)
{
    static char orig[PATH_MAX], tmp[PATH_MAX];
    if (with_suffix(orig, path, XB_ORIGINAL_SUFFIX) || with_suffix(tmp, path, NEW_SUFFIX)) return;
    struct kstat ps, os, ts;
    int has_path = sys_lstat(path, &ps) == 0, has_orig = sys_lstat(orig, &os) == 0, has_tmp = sys_lstat(tmp, &ts) == 0;
    if (has_tmp) {
        int tmp_is_shim = is_shim_file(tmp);
        if (tmp_is_shim) {
            if (!has_path && has_orig && sys_rename(orig, path) == 0) has_path = 1, has_orig = 0, ps = os;
            sys_unlink(tmp);
        } else if (has_path && !has_orig && is_shim_file(path) && (ts.mode & S_IFMT) == S_IFREG) {
            if (sys_rename(tmp, path) == 0) ps = ts;
        }
    }
    if (has_path && has_orig && ps.dev == os.dev && ps.ino == os.ino) sys_unlink(orig);
}

/* ---- role: cross-build-start ---- */

static const char *const dpkg_hook_text =
    "# Written by cross-build-start, removed by cross-build-end (xbuild): after every\n"
    "# dpkg run, swap again the shells a package upgrade has just replaced.\n"
    "post-invoke=" XB_START_NAME " --refresh\n";

static char shells_text[LIST_POOL + 1];

/*
 * The names to consider, state entries first (cross-build-end must reach
 * every swapped file): the state list, /bin/sh, every line of /etc/shells, the
 * usual shell paths (for images without /etc/shells, so `SHELL ["/bin/bash",
 * "-c"]` still works). 0, or -E2BIG when they do not all fit.
 */
static int candidate_shells(struct list *c, const struct list *state)
{
    static const char *const usual[] = {"/bin/sh", "/bin/bash", "/bin/dash", "/bin/ash", "/bin/zsh", "/bin/ksh", "/bin/mksh", 0};
    list_clear(c);
    for (int i = 0; i < state->n; i++) list_add(c, at(state, i));
    list_add(c, "/bin/sh");
    isize n = read_small("/etc/shells", shells_text, sizeof shells_text);
    if (n == -E2BIG) c->overflow = 1;
    if (n >= 0) lines_into(c, shells_text);
    for (int i = 0; usual[i]; i++) list_add(c, usual[i]);
    return c->overflow ? -E2BIG : 0;
}

struct start_ctx {
    const char *me;
    int refresh, had_state;
    char sh[PATH_MAX];
    const struct guest_arch *arch;
    char emu[128];
    usize shim_len;
};

static struct list g_state, g_cands, g_next, g_plan, g_swapped, g_dropped;
static struct kstat plan_st[MAX_ENTRIES];
static int plan_group[MAX_ENTRIES]; /* index of the first name of the same original file */
static char shim_bytes[65536];

/* Step 1: the image's architecture, from its /bin/sh (or that shell's original once swapped). 0 or 1 */
static int image_arch(struct start_ctx *c)
{
    static char shorig[PATH_MAX];
    struct elf_info ei;
    int r = resolve_final("/bin/sh", c->sh);
    if (!r) recover_name(c->sh);
    if (!r) r = inspect_path(c->sh, &ei);
    if (r) { m(c->me); m(": cannot read /bin/sh: "); m_err(r); m_flush(2); return 1; }
    if (ei.xb_shim) {
        with_suffix(shorig, c->sh, XB_ORIGINAL_SUFFIX);
        r = inspect_path(shorig, &ei);
        if (r) {
            m(c->me); m(": /bin/sh is already the xbuild shim but "); m(shorig); m(" cannot be read: "); m_err(r);
            m(" (the image is damaged: restore /bin/sh from the base image)");
            m_flush(2);
            return 1;
        }
    }
    c->arch = guest_arch_of(&ei);
    if (!c->arch) {
        m(c->me); m(": refusing: /bin/sh (");
        m(c->sh);
        if (!ei.elf) m(") is not an ELF program");
        else { m(") is for ELF machine "); m_num(ei.machine); m(ei.machine == EM_X86_64 ? " (x86_64: runs natively, no cross-build needed)" : ", not ARM/AArch64"); }
        m_flush(2);
        return 1;
    }
    return 0;
}

/* Step 2: the emulator for that architecture, host-native and execve-intercepting. 0 or 1 */
static int check_emulator(struct start_ctx *c)
{
    static char other[128];
    emulator_path(c->emu, c->arch->qemu);
    struct elf_info ee;
    int r = inspect_path(c->emu, &ee);
    if (r) {
        emulator_path(other, c->arch == &arches[0] ? arches[1].qemu : arches[0].qemu);
        m(c->me); m(": refusing: this image is "); m(c->arch->qemu); m(" but "); m(c->emu);
        if (exists(other)) { m(" is missing (the emulator present is "); m(other); m("): wrap the image for its own platform"); }
        else { m(" is missing: "); m_err(r); m(" (wrap the image with xbuild)"); }
        m_flush(2);
        return 1;
    }
    if (!ee.elf || ee.machine != EM_X86_64 || ee.cls != 2 || !ee.xb_execve) {
        m(c->me); m(": refusing: "); m(c->emu);
        if (!ee.elf || ee.machine != EM_X86_64 || ee.cls != 2) m(" is not an x86_64 program the host can run");
        else m(" is not xbuild's execve-intercepting emulator (it has no xbuild note): wrap the image with xbuild");
        m_flush(2);
        return 1;
    }
    return 0;
}

/* Step 3: the shim's own bytes, to copy over each shell. 0 or 1 */
static int read_self(struct start_ctx *c, const char *self)
{
    struct elf_info se = {0};
    isize n = read_small(self, shim_bytes, sizeof shim_bytes);
    if (n <= 0 || inspect_path(self, &se) != 0 || !se.xb_shim) {
        m(c->me); m(": cannot read this program from "); m(self); m(" to install it");
        m_flush(2);
        return 1;
    }
    c->shim_len = (usize)n;
    return 0;
}

/* path.xbuild-orig, .xbuild-new, .xbuild-tmp: xbuild's own names */
static int is_xbuild_name(const char *nm)
{
    static const char *const sfx[] = {XB_ORIGINAL_SUFFIX, NEW_SUFFIX, ".xbuild-tmp"};
    usize nl = slen(nm);
    for (int i = 0; i < 3; i++) {
        usize sl = slen(sfx[i]);
        if (nl > sl && seq(nm + nl - sl, sfx[i])) return 1;
    }
    return 0;
}

/* Adds every other name of a hard-linked original (the official busybox image links each applet) found in its directory and the usual bin directories. */
static void plan_other_names(const char *first, const struct kstat *st, int group)
{
    static const char *const dirs[] = {0, "/bin", "/sbin", "/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin"};
    static char dir[PATH_MAX], name[PATH_MAX], ents[8192];
    u64 seen_dev[8], seen_ino[8];
    int nseen = 0;
    u64 found = 1;
    for (usize d = 0; d < sizeof dirs / sizeof dirs[0] && found < st->nlink; d++) {
        const char *dp = dirs[d];
        if (!dp) {
            usize dl = (usize)(base_name(first) - first);
            if (dl < 2) continue;
            memcpy(dir, first, dl - 1);
            dir[dl - 1] = 0;
            dp = dir;
        }
        struct kstat ds;
        if (sys_stat(dp, &ds) != 0) continue;
        int dup = 0;
        for (int i = 0; i < nseen; i++) dup |= seen_dev[i] == ds.dev && seen_ino[i] == ds.ino;
        if (dup) continue;
        seen_dev[nseen] = ds.dev, seen_ino[nseen] = ds.ino, nseen++;
        int fd = sys_open(dp, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
        if (fd < 0) continue;
        isize got;
        while ((got = sys3(SYS_getdents64, fd, ents, sizeof ents)) > 0) {
            for (isize o = 0; o < got;) {
                u16 reclen = (u16)rd((const u8 *)ents + o + 16, 2);
                const char *nm = ents + o + 19;
                o += reclen;
                usize nl = slen(nm), dl = slen(dp);
                if (nm[0] == '.' || is_xbuild_name(nm) || dl + nl + 2 > PATH_MAX) continue;
                memcpy(name, dp, dl);
                name[dl] = '/';
                memcpy(name + dl + 1, nm, nl + 1);
                struct kstat ns;
                if (sys_lstat(name, &ns) != 0 || ns.dev != st->dev || ns.ino != st->ino || list_has(&g_plan, name)) continue;
                if (list_add(&g_plan, name)) return;
                plan_st[g_plan.n - 1] = *st;
                plan_group[g_plan.n - 1] = group;
                found++;
            }
        }
        sys_close(fd);
    }
}

/*
 * Step 4: the plan. Every candidate that is a guest program of the image's
 * architecture (not a shared object), with every other name of the same file;
 * names already swapped stay in the state; names gone are dropped with their
 * stale originals. 0, or -E2BIG when the lists overflow.
 */
static int plan_swaps(struct start_ctx *c)
{
    static char r_path[PATH_MAX], r_orig[PATH_MAX];
    static u64 seen_dev[MAX_ENTRIES], seen_ino[MAX_ENTRIES];
    int nseen = 0;
    list_copy(&g_next, &g_state);
    list_clear(&g_plan);
    list_clear(&g_dropped);
    for (int i = 0; i < g_cands.n; i++) {
        int r = resolve_final(at(&g_cands, i), r_path);
        if (r != 0 && r != -ENOENT) continue; /* ENOENT: r_path names the missing file */
        if (with_suffix(r_orig, r_path, XB_ORIGINAL_SUFFIX)) continue;
        recover_name(r_path);
        struct kstat st;
        if (sys_stat(r_path, &st) != 0) {
            /* removed while cross-build mode was on: its original is out of date */
            if (exists(r_orig) && sys_unlink(r_orig) == 0) list_add(&g_dropped, r_path);
            list_remove(&g_next, r_path);
            continue;
        }
        if ((st.mode & S_IFMT) != S_IFREG) continue;
        /* one file counts once (merged /usr names each twice); other names of a swapped file are in the state already */
        int dup = 0;
        for (int k = 0; k < nseen; k++) dup |= seen_dev[k] == st.dev && seen_ino[k] == st.ino;
        if (dup || nseen >= MAX_ENTRIES) continue;
        seen_dev[nseen] = st.dev, seen_ino[nseen] = st.ino, nseen++;
        struct elf_info ci;
        if (inspect_path(r_path, &ci) != 0) continue;
        if (ci.xb_shim) {
            if (exists(r_orig)) list_add(&g_next, r_path);
            else { m(c->me); m(": warning: "); m(r_path); m(" is an xbuild shim without its original "); m(r_orig); m_flush(2); }
            continue;
        }
        if (!ci.program || guest_arch_of(&ci) != c->arch) continue;
        int group = g_plan.n;
        if (list_add(&g_plan, r_path)) break;
        plan_st[group] = st;
        plan_group[group] = group;
        if (st.nlink > 1) plan_other_names(r_path, &st, group);
    }
    for (int i = 0; i < g_plan.n; i++) list_add(&g_next, at(&g_plan, i));
    return g_plan.overflow || g_next.overflow || g_dropped.overflow ? -E2BIG : 0;
}

/* Step 5: swap each planned name; the names of one original share one shim file. 0, or 1 when one failed. */
static int swap_all(struct start_ctx *c)
{
    static char tmp[PATH_MAX], orig[PATH_MAX], first_tmp[PATH_MAX];
    int failed = 0;
    list_clear(&g_swapped);
    for (int g = 0; g < g_plan.n; g++) {
        if (plan_group[g] != g) continue;
        /* the group's shim file, linked to each name's .xbuild-new (a copy where linking is refused) */
        int r = with_suffix(first_tmp, at(&g_plan, g), NEW_SUFFIX);
        if (!r) r = write_shim(first_tmp, shim_bytes, c->shim_len, &plan_st[g]);
        for (int i = g_plan.n - 1; i >= g; i--) {
            if (plan_group[i] != g) continue;
            const char *p = at(&g_plan, i);
            int e = r;
            if (!e) e = with_suffix(tmp, p, NEW_SUFFIX);
            if (!e) e = with_suffix(orig, p, XB_ORIGINAL_SUFFIX);
            if (!e && i != g) {
                sys_unlink(tmp);
                if (sys_link(first_tmp, tmp) != 0) e = write_shim(tmp, shim_bytes, c->shim_len, &plan_st[i]);
            }
            if (!e) e = swap_name(p, tmp, orig);
            if (e) {
                failed = 1;
                m(c->me); m(": cannot swap "); m(p); m(": "); m_err(e);
                m_flush(2);
                list_remove(&g_next, p);
            } else {
                list_add(&g_swapped, p);
            }
        }
        if (r == 0) sys_unlink(first_tmp); /* normally renamed already; gone in any case */
    }
    if (failed) write_state(&g_next);
    return failed;
}

/* Step 6: dpkg hook: re-swap after package upgrades (Debian/Ubuntu images). */
static void install_dpkg_hook(struct start_ctx *c)
{
    struct kstat dst;
    if (sys_stat("/etc/dpkg/dpkg.cfg.d", &dst) != 0 || (dst.mode & S_IFMT) != S_IFDIR) return;
    int r = write_if_changed(XB_DPKG_HOOK, dpkg_hook_text, slen(dpkg_hook_text), 0644);
    if (r) { m(c->me); m(": warning: cannot write "); m(XB_DPKG_HOOK); m(": "); m_err(r); m_flush(2); }
}

/* Cross-build mode off: no state file, no dpkg hook. */
static void leave_mode(void)
{
    sys_unlink(XB_STATE_FILE);
    sys_unlink(XB_STATE_FILE ".xbuild-tmp");
    sys_unlink(XB_DPKG_HOOK);
    sys_unlink(XB_DPKG_HOOK ".xbuild-tmp");
}

/* Step 7: one line on what happened. */
static int report_start(struct start_ctx *c, int failed)
{
    if (c->refresh) {
        if (g_swapped.n || g_dropped.n) {
            m(c->me); m(": after a package change: ");
            if (g_swapped.n) { m("swapped again "); m_list(&g_swapped); }
            if (g_dropped.n) { m(g_swapped.n ? "; gone: " : "gone: "); m_list(&g_dropped); }
            m_flush(2);
        }
        return 0;
    }
    m(c->me);
    if (!c->had_state) { m(": on: "); m_list(&g_next); m(" now start under "); }
    else if (g_swapped.n || g_dropped.n) {
        m(": on:");
        if (g_swapped.n) { m(" swapped again "); m_list(&g_swapped); m(";"); }
        if (g_dropped.n) { m(" gone: "); m_list(&g_dropped); m(";"); }
        m(" shells start under ");
    }
    else { m(": already on, nothing changed: "); m_list(&g_next); m(" start under "); }
    m(c->emu);
    m(" (undo with cross-build-end)");
    m_flush(1);
    return failed;
}

static int cmd_start(const char *self, int refresh)
{
    static struct start_ctx c;
    c.me = base_name(XB_START_NAME);
    c.refresh = refresh;
    int r = read_state(&g_state);
    c.had_state = r == 0;
    if (r == -E2BIG) { m(c.me); m(": "); m(XB_STATE_FILE); m(" lists too many files for this shim"); m_flush(2); return refresh ? 0 : 1; }
    if (refresh && !c.had_state) return 0; /* hook left behind without state: nothing to do */
    if (image_arch(&c) || check_emulator(&c) || read_self(&c, self)) return refresh ? 0 : 1;
    if (candidate_shells(&g_cands, &g_state) || plan_swaps(&c)) {
        m(c.me); m(": too many shells to consider (more than "); m_num(MAX_ENTRIES);
        m(" names from /etc/shells, "); m(XB_STATE_FILE); m(" and hard links, or /etc/shells is too large): nothing changed");
        m_flush(2);
        return refresh ? 0 : 1;
    }
    if (g_next.n == 0 && !c.had_state) {
        m(c.me); m(": no shell of this image could be swapped ("); m(c.sh); m(")");
        m_flush(2);
        return refresh ? 0 : 1;
    }
    /* record first (so cross-build-end can always undo), then swap */
    r = write_state(&g_next);
    if (r) {
        m(c.me); m(": cannot write "); m(XB_STATE_FILE); m(": "); m_err(r);
        m_flush(2);
        if (!c.had_state) leave_mode();
        return refresh ? 0 : 1;
    }
    int failed = swap_all(&c);
    if (g_next.n == 0) {
        leave_mode();
        m(c.me); m(": no shell of this image could be swapped ("); m(c.sh); m("): cross-build mode is off");
        m_flush(2);
        return refresh ? 0 : 1;
    }
    install_dpkg_hook(&c);
    return report_start(&c, failed);
}

/* ---- role: cross-build-end ---- */

static struct list g_restored, g_kept, g_gone;

/* Restores one name; 0, or 1 after saying why it cannot. */
static int restore_name(const char *me, const char *path, int listed)
{
    static char orig[PATH_MAX];
    if (with_suffix(orig, path, XB_ORIGINAL_SUFFIX)) return 0;
    recover_name(path);
    struct kstat st;
    int has_orig = exists(orig);
    if (sys_stat(path, &st) != 0) {
        /* removed by a package while cross-build mode was on: its original is out of date */
        if (has_orig && listed && sys_unlink(orig) == 0) list_add(&g_gone, path);
        return 0;
    }
    if ((st.mode & S_IFMT) != S_IFREG) return 0;
    struct elf_info ei;
    int r = inspect_path(path, &ei);
    if (r) {
        if (!has_orig) return 0;
        /* present but unreadable: it may well be the shim; its original is kept */
        m(me); m(": cannot read "); m(path); m(" to tell whether it is the shim: "); m_err(r); m(" (kept "); m(orig); m(")");
        m_flush(2);
        return 1;
    }
    if (ei.xb_shim) {
        r = has_orig ? sys_rename(orig, path) : -ENOENT;
        if (r == 0) { list_add(&g_restored, path); return 0; }
        m(me); m(": cannot restore "); m(path); m(" from "); m(orig); m(": "); m_err(r);
        m_flush(2);
        return 1;
    }
    /* replaced by a package while cross-build mode was on: keep the new file */
    if (has_orig && sys_unlink(orig) == 0) list_add(&g_kept, path);
    return 0;
}

static int cmd_end(void)
{
    static char r_path[PATH_MAX];
    const char *me = base_name(XB_END_NAME);
    int r = read_state(&g_state);
    int had_state = r == 0 || r == -E2BIG;
    if (r == -E2BIG) {
        m(me); m(": "); m(XB_STATE_FILE); m(" lists more files than this shim can hold: restoring the first "); m_num(g_state.n);
        m_flush(2);
    }
    candidate_shells(&g_cands, &g_state); /* state entries first: they all fit; more /etc/shells lines are only a fallback */
    list_clear(&g_restored);
    list_clear(&g_kept);
    list_clear(&g_gone);
    int failed = r == -E2BIG;
    for (int i = 0; i < g_cands.n; i++) {
        int listed = i < g_state.n;
        if (resolve_final(at(&g_cands, i), r_path) != 0 && !listed) continue;
        failed |= restore_name(me, r_path, listed);
    }
    int had_hook = exists(XB_DPKG_HOOK);
    if (failed) {
        m(me); m(": cross-build mode stays on ("); m(XB_STATE_FILE); m(" kept): fix the above and run cross-build-end again");
        m_flush(2);
        return 1;
    }
    leave_mode(); /* also the temporary files of an interrupted start */
    if (exists(XB_STATE_FILE) || exists(XB_DPKG_HOOK)) {
        m(me); m(": cannot remove "); m(XB_STATE_FILE); m(" or "); m(XB_DPKG_HOOK);
        m_flush(2);
        return 1;
    }
    if (!had_state && !g_restored.n && !g_kept.n && !g_gone.n && !had_hook) {
        m(me); m(": cross-build mode is not on (cross-build-start was not run, or cross-build-end already ran): nothing to do");
        m_flush(1);
        return 0;
    }
    m(me); m(": off: ");
    if (g_restored.n) { m("restored "); m_list(&g_restored); }
    else m("nothing was swapped");
    if (g_kept.n) { m("; kept the versions installed meanwhile of "); m_list(&g_kept); }
    if (g_gone.n) { m("; removed meanwhile: "); m_list(&g_gone); }
    m_flush(1);
    return 0;
}

/* ---- entry ---- */

__attribute__((used)) int xbuild_main(long *sp)
{
    static char self[PATH_MAX];
    int argc = (int)sp[0];
    char **argv = (char **)(sp + 1);
    char **envp = argv + argc + 1;
    char **e = envp;
    while (*e) e++;
    const char *execfn = 0;
    int secure = 0;
    for (u64 *av = (u64 *)(e + 1); av[0] != AT_NULL; av += 2) {
        if (av[0] == AT_EXECFN) execfn = (const char *)av[1];
        if (av[0] == AT_SECURE) secure = av[1] != 0;
    }
    if (!execfn) execfn = argc > 0 && argv[0] ? argv[0] : "";

    /* the role: the base name, symlinks in the last component followed */
    const char *role = base_name(execfn);
    int self_ok = resolve_final(execfn, self) == 0;
    if (self_ok) role = base_name(self);
    int is_start = seq(role, base_name(XB_START_NAME)), is_end = seq(role, base_name(XB_END_NAME));
    if (is_start || is_end) {
        int refresh = 0;
        for (int i = 1; i < argc; i++) {
            if (is_start && seq(argv[i], "--refresh")) refresh = 1;
            else {
                m(role); m(": unexpected argument \""); m(argv[i]); m("\": it takes none");
                m_flush(2);
                return 2;
            }
        }
        if (is_end) return cmd_end();
        return cmd_start(self_ok ? self : "/proc/self/exe", refresh);
    }
    return run_shell(execfn, argc, argv, envp, secure);
}

__asm__(
    ".text\n"
    ".global _start\n"
    "_start:\n"
    "  xor %ebp, %ebp\n"
    "  mov %rsp, %rdi\n"
    "  and $-16, %rsp\n"
    "  call xbuild_main\n"
    "  mov %eax, %edi\n"
    "  mov $231, %eax\n"
    "  syscall\n"
    "  hlt\n");
