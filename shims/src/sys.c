/* xbuild-shim: types, the ELF note, system calls, memory and string helpers, one-line messages. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

