/* xbuild-shim: swapping one file; undoing interrupted swaps. Part of the single translation unit shims/xbuild-shim.c (which includes it). */

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

