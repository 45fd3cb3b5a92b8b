/* xbuild-shim: the shell role: find the original, exec the emulator. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

/*
 * The emulator's start-up levers (contract EMULATOR_LEVERS, patches/0020):
 * each is passed as `FLAG on` unless the environment the emulator gets sets
 * its QEMU_* twin, which then decides (QEMU_LEAN_HTABLE=off turns it off).
 */
struct lever { const char *flag, *env; };
static const struct lever levers[] = XB_LEVERS;
#define LEVER_COUNT (sizeof levers / sizeof levers[0] - 1)

static int env_sets(char **envp, const char *name)
{
    usize n = slen(name);
    for (int i = 0; envp[i]; i++)
        if (starts_with(envp[i], name) && envp[i][n] == '=') return 1;
    return 0;
}

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
        m(" is not an ELF program for one of xbuild's emulators (" XB_GUEST_NAMES ")");
        m_flush(2);
        return 126;
    }
    emulator_path(emu, ga->qemu);

    /* emulator -execve -0 argv0 -- original args... : one exec, same process. Not on the stack: argc is unbounded. */
    int envc = 0;
    while (envp[envc]) envc++;
    char **nargv = sys_alloc(sizeof(char *) * ((usize)argc + 7 + 2 * LEVER_COUNT + (usize)envc + 1));
    if (!nargv) {
        m("xbuild-shim: cannot run "); m(orig); m(": "); m_err(-ENOMEM);
        m_flush(2);
        return 126;
    }
    /* A privileged start (AT_SECURE) must not let the caller steer the emulator: drop QEMU_* */
    char **nenvp = envp;
    if (secure) {
        nenvp = nargv + argc + 7 + 2 * LEVER_COUNT;
        int k = 0;
        for (int i = 0; i < envc; i++)
            if (!is_qemu_var(envp[i])) nenvp[k++] = envp[i];
        nenvp[k] = 0;
    }
    int n = 0;
    nargv[n++] = emu;
    nargv[n++] = XB_EXECVE_FLAG;
    for (usize l = 0; l < LEVER_COUNT; l++) {
        if (env_sets(nenvp, levers[l].env)) continue;
        nargv[n++] = (char *)levers[l].flag;
        nargv[n++] = "on";
    }
    nargv[n++] = "-0";
    nargv[n++] = (char *)(argv0 ? argv0 : execfn);
    nargv[n++] = "--";
    nargv[n++] = orig;
    for (int i = 1; i < argc; i++) nargv[n++] = argv[i];
    nargv[n++] = 0;
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

