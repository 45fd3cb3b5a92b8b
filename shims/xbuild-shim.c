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
    !defined(XB_NT_SHIM) || !defined(XB_NT_EXECVE) || !defined(XB_EXECVE_FLAG) || !defined(XB_DPKG_HOOK) || \
    !defined(XB_LEVERS)
#error "build with src/shims/build.ts (ensureShim), which defines the contract names"
#endif

/*
 * One translation unit (no libc, no linker tricks): the parts below are
 * included in order; each uses only what the parts before it define.
 */
#include "src/sys.c"
#include "src/elf.c"
#include "src/files.c"
#include "src/shell.c"
#include "src/swap.c"
#include "src/start-plan.c"
#include "src/start.c"
#include "src/end.c"

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
