/* xbuild-shim: following symlinks of the last component, reading ELF headers, guest architectures. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

#define EM_X86_64 62
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
    int data;      /* 1 = little-endian, 2 = big-endian */
    int machine;   /* e_machine, read in the file's byte order */
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

/* An n-byte field in the byte order of the file (data: 2 = big-endian). */
static u64 rdx(const u8 *p, int n, int data)
{
    u64 v = 0;
    if (data != 2) return rd(p, n);
    for (int i = 0; i < n; i++) v = (v << 8) | p[i];
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
static int dyn_is_program(int fd, u64 off, u64 size, int cls, int data)
{
    int esz = cls == 2 ? 16 : 8, half = esz / 2, soname = 0, pie = 0;
    u8 d[16];
    for (u64 o = 0; o + (u64)esz <= size && o < 65536; o += (u64)esz) {
        if (sys_pread(fd, d, (usize)esz, off + o) != esz) break;
        u64 tag = rdx(d, half, data), val = rdx(d + half, half, data);
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
    ei->data = h[5];
    if ((ei->data != 1 && ei->data != 2) || (ei->cls != 1 && ei->cls != 2)) return;
    int dt = ei->data;
    ei->machine = (int)rdx(h + 18, 2, dt);
    int type = (int)rdx(h + 16, 2, dt), is64 = ei->cls == 2;
    ei->program = type == ET_EXEC;
    u64 phoff = is64 ? rdx(h + 32, 8, dt) : rdx(h + 28, 4, dt);
    u64 phentsize = rdx(h + (is64 ? 54 : 42), 2, dt), phnum = rdx(h + (is64 ? 56 : 44), 2, dt);
    if (phentsize < (is64 ? 56u : 32u) || phnum > 64) return;
    int has_dynamic = 0;
    for (u64 i = 0; i < phnum; i++) {
        u8 ph[56];
        if (sys_pread(fd, ph, is64 ? 56 : 32, phoff + i * phentsize) != (is64 ? 56 : 32)) return;
        u64 pt = rdx(ph, 4, dt), off = is64 ? rdx(ph + 8, 8, dt) : rdx(ph + 4, 4, dt), size = is64 ? rdx(ph + 32, 8, dt) : rdx(ph + 16, 4, dt);
        if (pt == PT_DYNAMIC && type == ET_DYN) has_dynamic = 1, ei->program = dyn_is_program(fd, off, size, ei->cls, dt);
        if (pt == PT_NOTE && is64 && dt == 1 && ei->machine == EM_X86_64) read_notes(fd, off, size, ei);
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

/*
 * The guest architectures, compared by value: ELF class, byte order and
 * machine. XB_GUEST_ARCHES is the contract's GUEST_ELF table
 * (src/contract/in-image.ts), given by src/shims/build.ts as
 * {{class, data, machine, "qemu-target"}, ...}.
 */
struct guest_arch {
    int cls, data, machine;
    const char *qemu;
};
static const struct guest_arch arches[] = XB_GUEST_ARCHES;
#define N_ARCHES (sizeof arches / sizeof arches[0])

static const struct guest_arch *guest_arch_of(const struct elf_info *ei)
{
    for (usize i = 0; i < N_ARCHES; i++)
        if (ei->elf && ei->cls == arches[i].cls && ei->data == arches[i].data && ei->machine == arches[i].machine) return &arches[i];
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

