/* xbuild-shim: cross-build-end. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

