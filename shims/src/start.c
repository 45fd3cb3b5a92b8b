/* xbuild-shim: cross-build-start steps 5-7 and the command. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

