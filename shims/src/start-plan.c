/* xbuild-shim: cross-build-start steps 1-4: architecture, emulator, own bytes, plan. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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
        else { m(") is for ELF machine "); m_num(ei.machine); m(ei.machine == EM_X86_64 ? " (x86_64: runs natively, no cross-build needed)" : ", class/byte order not one of xbuild's emulators (" XB_GUEST_NAMES ")"); }
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
        int found = 0;
        for (usize i = 0; i < N_ARCHES && !found; i++) {
            if (&arches[i] == c->arch) continue;
            emulator_path(other, arches[i].qemu);
            found = exists(other);
        }
        m(c->me); m(": refusing: this image is "); m(c->arch->qemu); m(" but "); m(c->emu);
        if (found) { m(" is missing (the emulator present is "); m(other); m("): wrap the image for its own platform"); }
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

