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

#define AT_FDCWD (-100)
#define AT_SYMLINK_NOFOLLOW 0x100
#define O_RDONLY 0
#define O_WRONLY 1
#define O_CREAT 0100
#define O_EXCL 0200
#define O_TRUNC 01000
#define O_CLOEXEC 02000000
#define S_IFMT 0170000
#define S_IFREG 0100000
#define S_IFDIR 0040000
#define AT_NULL 0
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
#define PT_NOTE 4

struct elf_info {
    int elf;       /* 1 when the file starts with an ELF identification */
    int cls;       /* 1 = ELF32, 2 = ELF64 */
    int machine;   /* e_machine, little-endian files only (0 otherwise) */
    int xb_shim;   /* carries the xbuild shim note */
    int xb_execve; /* carries the xbuild execve-intercept note */
};

static u64 rd(const u8 *p, int n)
{
    u64 v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

/* Reads the ELF header and, for x86_64 files, the xbuild notes of PT_NOTE segments. */
static void inspect_fd(int fd, struct elf_info *ei)
{
    u8 h[64];
    memset(ei, 0, sizeof *ei);
    if (sys_pread(fd, h, sizeof h, 0) < 52) return;
    if (!(h[0] == 0x7f && h[1] == 'E' && h[2] == 'L' && h[3] == 'F')) return;
    ei->elf = 1;
    ei->cls = h[4];
    if (h[5] != 1) return; /* big-endian: not ours */
    ei->machine = (int)rd(h + 18, 2);
    if (ei->cls != 2 || ei->machine != EM_X86_64) return;
    u64 phoff = rd(h + 32, 8);
    u64 phentsize = rd(h + 54, 2), phnum = rd(h + 56, 2);
    if (phentsize < 56 || phnum > 64) return;
    for (u64 i = 0; i < phnum; i++) {
        u8 ph[56];
        if (sys_pread(fd, ph, sizeof ph, phoff + i * phentsize) != sizeof ph) return;
        if (rd(ph, 4) != PT_NOTE) continue;
        u8 notes[1024];
        u64 size = rd(ph + 32, 8);
        if (size > sizeof notes) size = sizeof notes;
        isize got = sys_pread(fd, notes, size, rd(ph + 8, 8));
        if (got < 12) continue;
        for (u64 off = 0; off + 12 <= (u64)got;) {
            u64 namesz = rd(notes + off, 4), descsz = rd(notes + off + 4, 4), type = rd(notes + off + 8, 4);
            u64 name = off + 12, desc = name + ((namesz + 3) & ~3ul), next = desc + ((descsz + 3) & ~3ul);
            if (next > (u64)got) break;
            if (namesz == sizeof XB_NOTE_NAME && memcmp(notes + name, XB_NOTE_NAME, namesz) == 0) {
                if (type == XB_NT_SHIM && descsz >= 13 && memcmp(notes + desc, "shim version=", 13) == 0) ei->xb_shim = 1;
                if (type == XB_NT_EXECVE) ei->xb_execve = 1;
            }
            off = next;
        }
    }
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

static const char *qemu_arch(int cls, int machine)
{
    if (cls == 1 && machine == EM_ARM) return "arm";
    if (cls == 2 && machine == EM_AARCH64) return "aarch64";
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

/* ---- role: a swapped shell ---- */

static int run_shell(const char *execfn, int argc, char **argv, char **envp)
{
    static char resolved[PATH_MAX], orig[PATH_MAX], emu[128];
    const char *cands[2] = {execfn, 0};
    /*
     * The kernel gives AT_EXECFN = the path that was exec'd. When this shim is
     * the interpreter of a `#!` script, that is the script; argv[0] then holds
     * the interpreter path from the `#!` line, which is tried second.
     */
    if (argc > 0 && argv[0] && argv[0][0] && !seq(argv[0], execfn)) {
        for (const char *p = argv[0]; *p; p++)
            if (*p == '/') { cands[1] = argv[0]; break; }
    }
    int fd = -ENOENT, first_err = 0;
    for (int i = 0; i < 2 && cands[i]; i++) {
        int r = resolve_final(cands[i], resolved);
        if (r == 0) r = join2(orig, resolved, slen(resolved), XB_ORIGINAL_SUFFIX);
        if (r == 0) {
            fd = sys_open(orig, O_RDONLY | O_CLOEXEC, 0);
            if (fd >= 0) break;
            r = fd;
        }
        if (!first_err) first_err = r;
        if (i == 0) join2(orig, execfn, slen(execfn), XB_ORIGINAL_SUFFIX);
    }
    if (fd < 0) {
        if (join2(orig, execfn, slen(execfn), XB_ORIGINAL_SUFFIX) != 0) orig[0] = 0;
        m("xbuild-shim: cannot open ");
        m(orig);
        m(": ");
        m_err(first_err);
        m(": cross-build mode is not on for ");
        m(execfn);
        m(" (run cross-build-start)");
        m_flush(2);
        return 127;
    }
    struct elf_info ei;
    inspect_fd(fd, &ei);
    sys_close(fd);
    const char *arch = qemu_arch(ei.cls, ei.machine);
    if (!arch) {
        m("xbuild-shim: ");
        m(orig);
        m(" is not a little-endian ARM or AArch64 ELF program");
        m_flush(2);
        return 126;
    }
    emulator_path(emu, arch);

    /* emulator -execve -0 argv0 -- original args... : one exec, same process */
    char *nargv[argc + 7];
    int n = 0;
    nargv[n++] = emu;
    nargv[n++] = XB_EXECVE_FLAG;
    nargv[n++] = "-0";
    nargv[n++] = (argc > 0 && argv[0]) ? argv[0] : (char *)execfn;
    nargv[n++] = "--";
    nargv[n++] = orig;
    for (int i = 1; i < argc; i++) nargv[n++] = argv[i];
    nargv[n] = 0;
    int e = (int)sys3(SYS_execve, emu, nargv, envp);
    m("xbuild-shim: cannot run ");
    m(emu);
    m(" for ");
    m(orig);
    m(": ");
    m_err(e);
    m_flush(2);
    return e == -ENOENT ? 127 : 126;
}

/* ---- state: the list of swapped files ---- */

#define MAX_ENTRIES 64

struct list {
    int n;
    char path[MAX_ENTRIES][256];
};

static void list_add(struct list *l, const char *p)
{
    for (int i = 0; i < l->n; i++)
        if (seq(l->path[i], p)) return;
    if (l->n < MAX_ENTRIES && slen(p) < sizeof l->path[0]) {
        memcpy(l->path[l->n], p, slen(p) + 1);
        l->n++;
    }
}

static void list_remove(struct list *l, const char *p)
{
    for (int i = 0; i < l->n; i++)
        if (seq(l->path[i], p)) {
            for (int j = i; j + 1 < l->n; j++) memcpy(l->path[j], l->path[j + 1], sizeof l->path[0]);
            l->n--;
            return;
        }
}

static char filebuf[65536];

/* Reads a whole small file into filebuf (NUL-terminated); length, or -errno. */
static isize read_small(const char *path)
{
    int fd = sys_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) return fd;
    isize total = 0;
    for (;;) {
        isize n = sys_read(fd, filebuf + total, sizeof filebuf - 1 - (usize)total);
        if (n < 0) { sys_close(fd); return n; }
        if (n == 0) break;
        total += n;
        if ((usize)total == sizeof filebuf - 1) break;
    }
    sys_close(fd);
    filebuf[total] = 0;
    return total;
}

/* Adds every absolute path line of filebuf (comments and blanks skipped). */
static void lines_into(struct list *l)
{
    char *p = filebuf;
    while (*p) {
        char *e = p;
        while (*e && *e != '\n') e++;
        char c = *e;
        *e = 0;
        while (*p == ' ' || *p == '\t') p++;
        char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r')) *--t = 0;
        if (*p == '/') list_add(l, p);
        if (!c) break;
        p = e + 1;
    }
}

static int read_state(struct list *l)
{
    l->n = 0;
    isize n = read_small(XB_STATE_FILE);
    if (n < 0) return (int)n;
    lines_into(l);
    return 0;
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

/* Writes the state file only when its content changes (so a second start touches nothing). */
static int write_state(const struct list *l)
{
    static char buf[MAX_ENTRIES * 257];
    usize n = 0;
    for (int i = 0; i < l->n; i++) {
        usize pl = slen(l->path[i]);
        memcpy(buf + n, l->path[i], pl);
        n += pl;
        buf[n++] = '\n';
    }
    isize old = read_small(XB_STATE_FILE);
    if (old == (isize)n && memcmp(filebuf, buf, n) == 0) return 0;
    struct kstat st;
    if (sys_stat(XB_STATE_DIR, &st) != 0) {
        int r = sys_mkdir(XB_STATE_DIR, 0755);
        if (r && r != -EEXIST) return r;
    }
    return write_atomic(XB_STATE_FILE, buf, n, 0644);
}

static int exists(const char *p)
{
    struct kstat st;
    return sys_lstat(p, &st) == 0;
}

/* ---- role: cross-build-start ---- */

static const char *const dpkg_hook_text =
    "# Written by cross-build-start, removed by cross-build-end (xbuild): after every\n"
    "# dpkg run, swap again the shells a package upgrade has just replaced.\n"
    "post-invoke=" XB_START_NAME " --refresh\n";

/*
 * The shells to consider: /bin/sh, every line of /etc/shells, the usual shell
 * paths (for images without /etc/shells, so `SHELL ["/bin/bash", "-c"]` still
 * works), and (for refresh/end) the state list. Only existing guest programs
 * are swapped; symlinks to one file count once.
 */
static void candidate_shells(struct list *c, const struct list *state)
{
    static const char *const usual[] = {"/bin/sh", "/bin/bash", "/bin/dash", "/bin/ash", "/bin/zsh", "/bin/ksh", "/bin/mksh", 0};
    c->n = 0;
    list_add(c, "/bin/sh");
    if (read_small("/etc/shells") >= 0) lines_into(c);
    for (int i = 0; usual[i]; i++) list_add(c, usual[i]);
    for (int i = 0; i < state->n; i++) list_add(c, state->path[i]);
}

struct seen {
    int n;
    u64 dev[MAX_ENTRIES], ino[MAX_ENTRIES];
};
static int seen_add(struct seen *s, const struct kstat *st)
{
    for (int i = 0; i < s->n; i++)
        if (s->dev[i] == st->dev && s->ino[i] == st->ino) return 0;
    if (s->n < MAX_ENTRIES) {
        s->dev[s->n] = st->dev;
        s->ino[s->n] = st->ino;
        s->n++;
    }
    return 1;
}

static void m_list(const struct list *l)
{
    for (int i = 0; i < l->n; i++) {
        if (i) m(", ");
        m(l->path[i]);
    }
}

/* Replaces `path` (a guest ELF) by a copy of the shim; the original keeps its inode at path.xbuild-orig. */
static int swap_one(const char *path, const char *shim, usize shim_len, const struct kstat *st)
{
    static char tmp[PATH_MAX], orig[PATH_MAX];
    int r = join2(tmp, path, slen(path), ".xbuild-new");
    if (!r) r = join2(orig, path, slen(path), XB_ORIGINAL_SUFFIX);
    if (r) return r;
    sys_unlink(tmp);
    int fd = sys_open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_TRUNC | O_CLOEXEC, 0700);
    if (fd < 0) return fd;
    const char *p = shim;
    usize left = shim_len;
    while (left) {
        isize n = sys_write(fd, p, left);
        if (n <= 0) { sys_close(fd); sys_unlink(tmp); return n < 0 ? (int)n : -EIO; }
        p += n;
        left -= (usize)n;
    }
    sys3(SYS_fchown, fd, st->uid, st->gid); /* best effort: same owner as the original */
    sys3(SYS_fchmod, fd, st->mode & 07777, 0);
    sys_close(fd);
    /* A stale original (the package manager replaced `path` meanwhile) gives way to the new one. */
    sys_unlink(orig);
    r = sys_link(path, orig);
    if (r) r = sys_rename(path, orig); /* no hard links here: a moment without `path` */
    if (r) { sys_unlink(tmp); return r; }
    r = sys_rename(tmp, path);
    if (r) { sys_rename(orig, path); sys_unlink(tmp); }
    return r;
}

static int cmd_start(const char *self, int refresh)
{
    static char sh[PATH_MAX], shorig[PATH_MAX], emu[128], other[128], r_path[PATH_MAX], r_orig[PATH_MAX];
    const char *me = base_name(XB_START_NAME);
    struct list state, cands, swapped_now, dropped;
    int had_state = read_state(&state) == 0;
    if (refresh && !had_state) return 0; /* hook left behind without state: nothing to do */

    /* 1. the image's architecture, from its /bin/sh (or that shell's original once swapped) */
    struct elf_info ei;
    int r = resolve_final("/bin/sh", sh);
    if (!r) r = inspect_path(sh, &ei);
    if (r) {
        m(me); m(": cannot read /bin/sh: "); m_err(r);
        m_flush(2);
        return refresh ? 0 : 1;
    }
    if (ei.xb_shim) {
        join2(shorig, sh, slen(sh), XB_ORIGINAL_SUFFIX);
        r = inspect_path(shorig, &ei);
        if (r) {
            m(me); m(": /bin/sh is already the xbuild shim but "); m(shorig); m(" cannot be read: "); m_err(r);
            m(" (the image is damaged: restore /bin/sh from the base image)");
            m_flush(2);
            return refresh ? 0 : 1;
        }
    }
    const char *arch = qemu_arch(ei.cls, ei.machine);
    if (!arch) {
        m(me); m(": refusing: /bin/sh (");
        m(sh);
        if (!ei.elf) m(") is not an ELF program");
        else { m(") is for ELF machine "); m_num(ei.machine); m(ei.machine == EM_X86_64 ? " (x86_64: runs natively, no cross-build needed)" : ", not ARM/AArch64"); }
        m_flush(2);
        return refresh ? 0 : 1;
    }

    /* 2. the emulator for that architecture, host-native and execve-intercepting */
    emulator_path(emu, arch);
    struct elf_info ee;
    r = inspect_path(emu, &ee);
    if (r) {
        const char *oa = arch[0] == 'a' && arch[1] == 'r' ? "aarch64" : "arm";
        emulator_path(other, oa);
        m(me); m(": refusing: this image is ");
        m(arch);
        m(" but ");
        m(emu);
        if (exists(other)) { m(" is missing (the emulator present is "); m(other); m("): wrap the image for its own platform"); }
        else { m(" is missing: "); m_err(r); m(" (wrap the image with xbuild)"); }
        m_flush(2);
        return refresh ? 0 : 1;
    }
    if (!ee.elf || ee.machine != EM_X86_64 || ee.cls != 2 || !ee.xb_execve) {
        m(me); m(": refusing: ");
        m(emu);
        if (!ee.elf || ee.machine != EM_X86_64 || ee.cls != 2) m(" is not an x86_64 program the host can run");
        else m(" is not xbuild's execve-intercepting emulator (it has no xbuild note): wrap the image with xbuild");
        m_flush(2);
        return refresh ? 0 : 1;
    }

    /* 3. the shim's own bytes, to copy over each shell */
    struct elf_info se = {0};
    isize shim_len = read_small(self);
    if (shim_len > 0 && shim_len < (isize)sizeof filebuf - 1 && inspect_path(self, &se) != 0) se.xb_shim = 0;
    if (shim_len <= 0 || shim_len >= (isize)sizeof filebuf - 1 || !se.xb_shim) {
        m(me); m(": cannot read this program from "); m(self); m(" to install it");
        m_flush(2);
        return refresh ? 0 : 1;
    }
    static char shim[sizeof filebuf];
    memcpy(shim, filebuf, (usize)shim_len);

    /* 4. plan: every existing shell that is a guest program of the image's architecture */
    candidate_shells(&cands, &state);
    struct seen seen = {0};
    struct list plan; /* resolved paths to swap */
    struct kstat plan_st[MAX_ENTRIES];
    plan.n = 0;
    dropped.n = 0;
    struct list next = state;
    int failed = 0;
    for (int i = 0; i < cands.n; i++) {
        r = resolve_final(cands.path[i], r_path);
        if (r != 0 && r != -ENOENT) continue; /* ENOENT: r_path names the missing file */
        if (join2(r_orig, r_path, slen(r_path), XB_ORIGINAL_SUFFIX)) continue;
        struct kstat st;
        if (sys_stat(r_path, &st) != 0) {
            /* removed while cross-build mode was on: its original is out of date */
            if (exists(r_orig) && sys_unlink(r_orig) == 0) list_add(&dropped, r_path);
            list_remove(&next, r_path);
            continue;
        }
        if ((st.mode & S_IFMT) != S_IFREG || !seen_add(&seen, &st)) continue;
        struct elf_info ci;
        if (inspect_path(r_path, &ci) != 0) continue;
        if (ci.xb_shim) {
            if (exists(r_orig)) list_add(&next, r_path);
            else { m(me); m(": warning: "); m(r_path); m(" is an xbuild shim without its original "); m(r_orig); m_flush(2); }
            continue;
        }
        if (!ci.elf || qemu_arch(ci.cls, ci.machine) != arch) continue;
        if (plan.n < MAX_ENTRIES) {
            plan_st[plan.n] = st;
            list_add(&plan, r_path);
            list_add(&next, r_path);
        }
    }

    /* 5. record first (so cross-build-end can always undo), then swap */
    if (plan.n || dropped.n || next.n != state.n) {
        r = write_state(&next);
        if (r) {
            m(me); m(": cannot write "); m(XB_STATE_FILE); m(": "); m_err(r);
            m_flush(2);
            return refresh ? 0 : 1;
        }
    }
    swapped_now.n = 0;
    for (int i = 0; i < plan.n; i++) {
        r = swap_one(plan.path[i], shim, (usize)shim_len, &plan_st[i]);
        if (r) {
            failed = 1;
            m(me); m(": cannot swap "); m(plan.path[i]); m(": "); m_err(r);
            m_flush(2);
            list_remove(&next, plan.path[i]);
            write_state(&next);
        } else {
            list_add(&swapped_now, plan.path[i]);
        }
    }

    /* 6. dpkg hook: re-swap after package upgrades (Debian/Ubuntu images) */
    struct kstat dst;
    if (sys_stat("/etc/dpkg/dpkg.cfg.d", &dst) == 0 && (dst.mode & S_IFMT) == S_IFDIR) {
        usize hl = slen(dpkg_hook_text);
        isize old = read_small(XB_DPKG_HOOK);
        if (!(old == (isize)hl && memcmp(filebuf, dpkg_hook_text, hl) == 0)) {
            r = write_atomic(XB_DPKG_HOOK, dpkg_hook_text, hl, 0644);
            if (r) { m(me); m(": warning: cannot write "); m(XB_DPKG_HOOK); m(": "); m_err(r); m_flush(2); }
        }
    }

    if (next.n == 0) {
        m(me); m(": no shell of this image could be swapped (");
        m(sh);
        m(")");
        m_flush(2);
        return refresh ? 0 : 1;
    }
    if (refresh) {
        if (swapped_now.n || dropped.n) {
            m(me); m(": after a package change: ");
            if (swapped_now.n) { m("swapped again "); m_list(&swapped_now); }
            if (dropped.n) { m(swapped_now.n ? "; gone: " : "gone: "); m_list(&dropped); }
            m_flush(2);
        }
        return 0;
    }
    m(me);
    if (!had_state) { m(": on: "); m_list(&next); m(" now start under "); }
    else if (swapped_now.n || dropped.n) {
        m(": on:");
        if (swapped_now.n) { m(" swapped again "); m_list(&swapped_now); m(";"); }
        if (dropped.n) { m(" gone: "); m_list(&dropped); m(";"); }
        m(" shells start under ");
    }
    else { m(": already on, nothing changed: "); m_list(&next); m(" start under "); }
    m(emu);
    m(" (undo with cross-build-end)");
    m_flush(1);
    return failed;
}

/* ---- role: cross-build-end ---- */

static int cmd_end(void)
{
    static char r_path[PATH_MAX], r_orig[PATH_MAX];
    const char *me = base_name(XB_END_NAME);
    struct list state, cands, restored, kept, gone;
    int had_state = read_state(&state) == 0;
    candidate_shells(&cands, &state);
    restored.n = 0;
    kept.n = 0;
    gone.n = 0;
    int failed = 0;
    for (int i = 0; i < cands.n; i++) {
        if (resolve_final(cands.path[i], r_path) != 0 && !had_state) continue;
        if (join2(r_orig, r_path, slen(r_path), XB_ORIGINAL_SUFFIX)) continue;
        struct elf_info ci;
        int present = inspect_path(r_path, &ci) == 0;
        if (present && ci.xb_shim) {
            int r = exists(r_orig) ? sys_rename(r_orig, r_path) : -ENOENT;
            if (r == 0) list_add(&restored, r_path);
            else {
                failed = 1;
                m(me); m(": cannot restore "); m(r_path); m(" from "); m(r_orig); m(": "); m_err(r);
                m_flush(2);
            }
        } else if (exists(r_orig)) {
            /* replaced (or removed) by a package while cross-build mode was on: keep the new state */
            if (sys_unlink(r_orig) == 0) list_add(present ? &kept : &gone, r_path);
        }
    }
    int r = sys_unlink(XB_DPKG_HOOK);
    int had_hook = r == 0;
    if (!failed) {
        r = sys_unlink(XB_STATE_FILE);
        if (r && r != -ENOENT) {
            failed = 1;
            m(me); m(": cannot remove "); m(XB_STATE_FILE); m(": "); m_err(r);
            m_flush(2);
        }
    }
    if (!had_state && !restored.n && !kept.n && !gone.n && !had_hook && !failed) {
        m(me); m(": cross-build mode is not on (cross-build-start was not run, or cross-build-end already ran): nothing to do");
        m_flush(1);
        return 0;
    }
    if (failed) return 1;
    m(me); m(": off: ");
    if (restored.n) { m("restored "); m_list(&restored); }
    else m("nothing was swapped");
    if (kept.n) { m("; kept the versions installed meanwhile of "); m_list(&kept); }
    if (gone.n) { m("; removed meanwhile: "); m_list(&gone); }
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
    for (u64 *av = (u64 *)(e + 1); av[0] != AT_NULL; av += 2)
        if (av[0] == AT_EXECFN) execfn = (const char *)av[1];
    if (!execfn) execfn = argc > 0 ? argv[0] : "";

    const char *role = execfn;
    if (resolve_final(execfn, self) == 0) role = self;
    else memcpy(self, execfn, slen(execfn) + 1);
    role = base_name(role);
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
        return is_start ? cmd_start(self, refresh) : cmd_end();
    }
    return run_shell(execfn, argc, argv, envp);
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
