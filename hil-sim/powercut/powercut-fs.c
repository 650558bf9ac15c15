/*
 * powercut-fs: a write-back passthrough FUSE filesystem that forgets, at a simulated power cut, every byte of
 * file data that was not fsynced.
 *
 *   powercut-fs MOUNTPOINT -o backing=DIR[,stats=FILE] -f -s [other FUSE options]
 *
 * The backing directory DIR is "the disk": what it holds is what survives a power cut.
 *
 * Model
 *  - File DATA (write, truncate/ftruncate, O_TRUNC at open, and the kernel's write-back of shared mmap pages,
 *    which arrives here as ordinary writes) is held in this process's memory per backing inode: dirty 4 KiB
 *    pages plus a logical size and a "floor" (backing bytes at or past the floor were truncated away and read
 *    as zeros). It reaches the backing file only on fsync/fdatasync of that file (any handle of the inode).
 *    close/flush/release do NOT make it durable.
 *  - Reads and getattr see the buffered data (st_size is the logical size, st_mtime the last buffered write),
 *    as a process reading its own unsynced writes on a real filesystem would.
 *  - Namespace and metadata operations (create, mkdir, mknod, rename, unlink, rmdir, symlink, link, chmod,
 *    chown, utimens) go to the backing directory at once: metadata is modelled as durable immediately and
 *    fsync of a directory is a no-op that is only counted. Whether the daemon fsyncs its directories is
 *    checked separately, by the strace-based fsync audit.
 *  - The cut: SIGKILL of this process loses its memory, i.e. exactly the unsynced data. The mount is then
 *    lazily unmounted and a fresh process mounted over the same backing directory.
 *  - "Durable" means "in the backing directory": the backing file is not fsynced itself (the host never
 *    loses power), which keeps the model fast.
 *
 * Limits: no torn writes inside a synced range (an fsync writes all dirty pages or, if this process is
 * killed in the middle, part of them in page order), no reordering of metadata, no lost directory entries.
 *
 * Counters: on SIGUSR1 (and at unmount) a JSON line is written to the stats file (temp file + rename):
 * fsyncs, bytes made durable, dirty bytes and files that a cut now would drop (with the first 64 dirty inodes).
 *
 * Single-threaded (-s): the state table is touched by the FUSE loop only; the stats thread takes the same
 * mutex.
 */
#define FUSE_USE_VERSION 31
#define _GNU_SOURCE

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096
#define BUCKETS 4096

struct node {
	ino_t ino;
	int opens;  /* open handles of this inode */
	int orphan; /* its last link is gone: forget it at the last release */
	int dirty;  /* holds unsynced data */
	off_t size;  /* logical size */
	off_t floor; /* backing bytes at or past this offset are logically gone */
	off_t base;  /* the backing file's size when buffering began */
	size_t cap;  /* entries in pages[] */
	char **pages;
	int has_mtime;
	struct timespec mtime;
	struct node *next;
};

struct handle {
	int fd;
	ino_t ino;
	int append;
};

static struct {
	char *backing;
	char *stats;
} opts;

static int rootfd = -1;
static struct node *table[BUCKETS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
	unsigned long long writes, bytes_written, truncates, fsyncs, fdatasyncs, fsyncdirs, bytes_durable, files_synced;
	unsigned long long stale_dropped, unlinked_dropped, unlinked_dropped_bytes, stats_written;
} ctr;

static const char *rel(const char *path) {
	return path[1] ? path + 1 : ".";
}

static struct node *find(ino_t ino) {
	for (struct node *n = table[ino % BUCKETS]; n; n = n->next)
		if (n->ino == ino) return n;
	return NULL;
}

static struct node *get(ino_t ino) {
	struct node *n = find(ino);
	if (n) return n;
	n = calloc(1, sizeof *n);
	if (!n) return NULL;
	n->ino = ino;
	n->next = table[ino % BUCKETS];
	table[ino % BUCKETS] = n;
	return n;
}

static void drop_pages(struct node *n) {
	for (size_t i = 0; i < n->cap; i++) free(n->pages[i]);
	free(n->pages);
	n->pages = NULL;
	n->cap = 0;
	n->dirty = 0;
	n->has_mtime = 0;
}

static unsigned long long dirty_bytes(const struct node *n) {
	unsigned long long b = 0;
	for (size_t i = 0; i < n->cap; i++) {
		if (!n->pages[i]) continue;
		off_t off = (off_t)i * PAGE;
		if (off < n->size) b += (unsigned long long)(n->size - off < PAGE ? n->size - off : PAGE);
	}
	return b;
}

/* Removes the node from the table when it holds nothing and nobody has the inode open. */
static void maybe_free(struct node *n) {
	if (n->opens > 0 || n->dirty) return;
	struct node **p = &table[n->ino % BUCKETS];
	while (*p && *p != n) p = &(*p)->next;
	if (*p) *p = n->next;
	drop_pages(n);
	free(n);
}

/* A fresh inode got a number that a stale state may still carry: that state belongs to a dead file. */
static void drop_stale(ino_t ino) {
	struct node *n = find(ino);
	if (!n || !n->dirty) return;
	ctr.stale_dropped++;
	drop_pages(n);
	maybe_free(n);
}

/* The backing inode lost its last link: its unsynced data can never be seen again once it is closed. */
static void last_link_gone(ino_t ino) {
	struct node *n = find(ino);
	if (!n) return;
	if (n->opens > 0) {
		n->orphan = 1;
		return;
	}
	if (n->dirty) {
		ctr.unlinked_dropped++;
		ctr.unlinked_dropped_bytes += dirty_bytes(n);
	}
	drop_pages(n);
	maybe_free(n);
}

/* Starts buffering an inode: the logical view begins as the backing file is now. */
static int make_dirty(struct node *n, int fd) {
	if (n->dirty) return 0;
	struct stat st;
	if (fstat(fd, &st) < 0) return -errno;
	n->size = st.st_size;
	n->floor = st.st_size;
	n->base = st.st_size;
	n->dirty = 1;
	return 0;
}

static int ensure_cap(struct node *n, size_t pg) {
	if (pg < n->cap) return 0;
	size_t cap = n->cap ? n->cap : 16;
	while (cap <= pg) cap *= 2;
	char **p = realloc(n->pages, cap * sizeof *p);
	if (!p) return -ENOMEM;
	memset(p + n->cap, 0, (cap - n->cap) * sizeof *p);
	n->pages = p;
	n->cap = cap;
	return 0;
}

/* Backing bytes of [off, off+len) that are still logically there (below the floor and the size); zeros past. */
static int read_backing(const struct node *n, int fd, char *buf, size_t len, off_t off) {
	memset(buf, 0, len);
	off_t valid = n->floor < n->size ? n->floor : n->size;
	if (off >= valid) return 0;
	size_t want = (size_t)(valid - off) < len ? (size_t)(valid - off) : len;
	size_t got = 0;
	while (got < want) {
		ssize_t r = pread(fd, buf + got, want - got, off + (off_t)got);
		if (r < 0) return -errno;
		if (r == 0) break;
		got += (size_t)r;
	}
	return 0;
}

static int page_for_write(struct node *n, int fd, size_t pg, char **out) {
	int e = ensure_cap(n, pg);
	if (e) return e;
	if (!n->pages[pg]) {
		char *p = malloc(PAGE);
		if (!p) return -ENOMEM;
		e = read_backing(n, fd, p, PAGE, (off_t)pg * PAGE);
		if (e) {
			free(p);
			return e;
		}
		n->pages[pg] = p;
	}
	*out = n->pages[pg];
	return 0;
}

/* Logical truncate: pages past the new size go, the tail of the page holding it is zeroed. */
static int trunc_node(struct node *n, int fd, off_t size) {
	int e = make_dirty(n, fd);
	if (e) return e;
	ctr.truncates++;
	if (size < n->size) {
		for (size_t i = 0; i < n->cap; i++) {
			off_t off = (off_t)i * PAGE;
			if (!n->pages[i]) continue;
			if (off >= size) {
				free(n->pages[i]);
				n->pages[i] = NULL;
			} else if (off + PAGE > size) {
				memset(n->pages[i] + (size - off), 0, (size_t)(off + PAGE - size));
			}
		}
		if (size < n->floor) n->floor = size;
	}
	n->size = size;
	n->has_mtime = 1;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	return 0;
}

/* fsync: the inode's logical content becomes the backing file's content. */
static int sync_node(struct node *n, int fd) {
	if (!n || !n->dirty) return 0;
	int wfd = fd;
	int fl = fcntl(fd, F_GETFL);
	if (fl < 0) return -errno;
	if ((fl & O_ACCMODE) == O_RDONLY) {
		/* fsync through a read-only handle is legal: write through a second descriptor of the same file. */
		char p[64];
		snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
		wfd = open(p, O_WRONLY);
		if (wfd < 0) return -errno;
	}
	int e = 0;
	struct stat st;
	if (fstat(wfd, &st) < 0) {
		e = -errno;
		goto out;
	}
	if (n->floor < st.st_size && ftruncate(wfd, n->floor) < 0) {
		e = -errno;
		goto out;
	}
	for (size_t i = 0; i < n->cap; i++) {
		if (!n->pages[i]) continue;
		off_t off = (off_t)i * PAGE;
		if (off >= n->size) continue;
		size_t len = n->size - off < PAGE ? (size_t)(n->size - off) : PAGE;
		size_t done = 0;
		while (done < len) {
			ssize_t w = pwrite(wfd, n->pages[i] + done, len - done, off + (off_t)done);
			if (w < 0) {
				e = -errno;
				goto out;
			}
			done += (size_t)w;
		}
		ctr.bytes_durable += len;
	}
	if (fstat(wfd, &st) < 0 || (st.st_size != n->size && ftruncate(wfd, n->size) < 0)) {
		e = -errno;
		goto out;
	}
	ctr.files_synced++;
	drop_pages(n);
out:
	if (wfd != fd) close(wfd);
	return e;
}

static void write_stats(void) {
	if (!opts.stats) return;
	unsigned long long db = 0, files = 0, truncs = 0;
	for (size_t b = 0; b < BUCKETS; b++)
		for (struct node *n = table[b]; n; n = n->next) {
			if (!n->dirty) continue;
			files++;
			db += dirty_bytes(n);
			if (n->floor < n->base) truncs++;
		}
	ctr.stats_written++;
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp", opts.stats);
	FILE *f = fopen(tmp, "w");
	if (!f) return;
	fprintf(f,
		"{\"seq\":%llu,\"pid\":%d,\"writes\":%llu,\"bytes_written\":%llu,\"truncates\":%llu,\"fsyncs\":%llu,"
		"\"fdatasyncs\":%llu,\"fsyncdirs\":%llu,\"files_synced\":%llu,\"bytes_durable\":%llu,\"dirty_files\":%llu,"
		"\"dirty_bytes\":%llu,\"pending_truncations\":%llu,\"stale_dropped\":%llu,\"unlinked_dropped\":%llu,"
		"\"unlinked_dropped_bytes\":%llu,\"dirty\":[",
		ctr.stats_written, (int)getpid(), ctr.writes, ctr.bytes_written, ctr.truncates, ctr.fsyncs, ctr.fdatasyncs,
		ctr.fsyncdirs, ctr.files_synced, ctr.bytes_durable, files, db, truncs, ctr.stale_dropped, ctr.unlinked_dropped,
		ctr.unlinked_dropped_bytes);
	/* The first inodes holding unsynced data, with their dirty bytes: the rig maps them to paths. */
	int k = 0;
	for (size_t b = 0; b < BUCKETS && k < 64; b++)
		for (struct node *n = table[b]; n && k < 64; n = n->next)
			if (n->dirty) fprintf(f, "%s[%llu,%llu]", k++ ? "," : "", (unsigned long long)n->ino, dirty_bytes(n));
	fprintf(f, "]}\n");
	fclose(f);
	rename(tmp, opts.stats);
}

static void *stats_thread(void *arg) {
	sigset_t *set = arg;
	for (;;) {
		int sig;
		if (sigwait(set, &sig) != 0) continue;
		pthread_mutex_lock(&lock);
		write_stats();
		pthread_mutex_unlock(&lock);
	}
	return NULL;
}

#define LOCKED(expr)                                                                                                   \
	do {                                                                                                           \
		pthread_mutex_lock(&lock);                                                                             \
		int r_ = (expr);                                                                                       \
		pthread_mutex_unlock(&lock);                                                                           \
		return r_;                                                                                             \
	} while (0)

static struct handle *H(struct fuse_file_info *fi) {
	return (struct handle *)(uintptr_t)fi->fh;
}

/* ---- operations ------------------------------------------------------------------------------------------------ */

static void *pc_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
	/* Every stat reaches us, so sizes are never stale; ops on unlinked open files come with fh only. */
	cfg->use_ino = 0;
	cfg->nullpath_ok = 1;
	cfg->hard_remove = 1;
	cfg->entry_timeout = 0;
	cfg->attr_timeout = 0;
	cfg->negative_timeout = 0;
	cfg->kernel_cache = 0;
	cfg->auto_cache = 0;
	cfg->direct_io = 0;
	/* Every change goes through this mount, so the kernel's page cache never needs invalidating on a stat. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	return NULL;
}

static void pc_destroy(void *data) {
	(void)data;
	pthread_mutex_lock(&lock);
	write_stats();
	pthread_mutex_unlock(&lock);
}

static void fix_stat(struct stat *st) {
	if (!S_ISREG(st->st_mode)) return;
	struct node *n = find(st->st_ino);
	if (!n || !n->dirty) return;
	st->st_size = n->size;
	st->st_blocks = (n->size + 511) / 512;
	if (n->has_mtime) {
		st->st_mtim = n->mtime;
		st->st_ctim = n->mtime;
	}
}

static int do_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
	int r = fi ? fstat(H(fi)->fd, st) : fstatat(rootfd, rel(path), st, AT_SYMLINK_NOFOLLOW);
	if (r < 0) return -errno;
	fix_stat(st);
	return 0;
}
static int pc_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
	LOCKED(do_getattr(path, st, fi));
}

static int pc_access(const char *path, int mask) {
	return faccessat(rootfd, rel(path), mask, 0) < 0 ? -errno : 0;
}

static int pc_readlink(const char *path, char *buf, size_t size) {
	ssize_t r = readlinkat(rootfd, rel(path), buf, size - 1);
	if (r < 0) return -errno;
	buf[r] = 0;
	return 0;
}

static int pc_opendir(const char *path, struct fuse_file_info *fi) {
	int fd = openat(rootfd, rel(path), O_RDONLY | O_DIRECTORY);
	if (fd < 0) return -errno;
	DIR *d = fdopendir(fd);
	if (!d) {
		int e = -errno;
		close(fd);
		return e;
	}
	fi->fh = (uint64_t)(uintptr_t)d;
	return 0;
}

static int pc_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
		      enum fuse_readdir_flags flags) {
	(void)path;
	(void)off;
	(void)flags;
	DIR *d = (DIR *)(uintptr_t)fi->fh;
	rewinddir(d);
	struct dirent *e;
	while ((e = readdir(d))) {
		struct stat st = {0};
		st.st_ino = e->d_ino;
		st.st_mode = (mode_t)DTTOIF(e->d_type);
		if (fill(buf, e->d_name, &st, 0, 0)) break;
	}
	return 0;
}

static int pc_releasedir(const char *path, struct fuse_file_info *fi) {
	(void)path;
	closedir((DIR *)(uintptr_t)fi->fh);
	return 0;
}

static int do_created(const char *path) {
	struct stat st;
	if (fstatat(rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0) drop_stale(st.st_ino);
	return 0;
}

static int do_mknod(const char *path, mode_t mode, dev_t rdev) {
	int r;
	if (S_ISREG(mode)) {
		r = openat(rootfd, rel(path), O_CREAT | O_EXCL | O_WRONLY, mode);
		if (r >= 0) r = close(r);
	} else if (S_ISFIFO(mode)) {
		r = mkfifoat(rootfd, rel(path), mode);
	} else {
		r = mknodat(rootfd, rel(path), mode, rdev);
	}
	if (r < 0) return -errno;
	return do_created(path);
}
static int pc_mknod(const char *path, mode_t mode, dev_t rdev) {
	LOCKED(do_mknod(path, mode, rdev));
}

static int pc_mkdir(const char *path, mode_t mode) {
	return mkdirat(rootfd, rel(path), mode) < 0 ? -errno : 0;
}

static int do_unlink(const char *path) {
	struct stat st;
	int had = fstatat(rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
	if (unlinkat(rootfd, rel(path), 0) < 0) return -errno;
	if (had && S_ISREG(st.st_mode) && st.st_nlink <= 1) last_link_gone(st.st_ino);
	return 0;
}
static int pc_unlink(const char *path) {
	LOCKED(do_unlink(path));
}

static int pc_rmdir(const char *path) {
	return unlinkat(rootfd, rel(path), AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int do_symlink(const char *from, const char *to) {
	if (symlinkat(from, rootfd, rel(to)) < 0) return -errno;
	return do_created(to);
}
static int pc_symlink(const char *from, const char *to) {
	LOCKED(do_symlink(from, to));
}

static int do_rename(const char *from, const char *to, unsigned int flags) {
	struct stat src, dst;
	if (fstatat(rootfd, rel(from), &src, AT_SYMLINK_NOFOLLOW) < 0) return -errno;
	int had = fstatat(rootfd, rel(to), &dst, AT_SYMLINK_NOFOLLOW) == 0;
	if (renameat2(rootfd, rel(from), rootfd, rel(to), flags) < 0) return -errno;
	/* Renaming over a file drops its last link (unless it was the same inode, or an exchange). */
	if (had && !(flags & RENAME_EXCHANGE) && S_ISREG(dst.st_mode) && dst.st_ino != src.st_ino && dst.st_nlink <= 1)
		last_link_gone(dst.st_ino);
	return 0;
}
static int pc_rename(const char *from, const char *to, unsigned int flags) {
	LOCKED(do_rename(from, to, flags));
}

static int pc_link(const char *from, const char *to) {
	return linkat(rootfd, rel(from), rootfd, rel(to), 0) < 0 ? -errno : 0;
}

static int pc_chmod(const char *path, mode_t mode, struct fuse_file_info *fi) {
	int r = fi ? fchmod(H(fi)->fd, mode) : fchmodat(rootfd, rel(path), mode, 0);
	return r < 0 ? -errno : 0;
}

static int pc_chown(const char *path, uid_t uid, gid_t gid, struct fuse_file_info *fi) {
	int r = fi ? fchown(H(fi)->fd, uid, gid) : fchownat(rootfd, rel(path), uid, gid, AT_SYMLINK_NOFOLLOW);
	return r < 0 ? -errno : 0;
}

static int do_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
	int fd = fi ? H(fi)->fd : openat(rootfd, rel(path), O_RDONLY);
	if (fd < 0) return -errno;
	struct stat st;
	int e = 0;
	if (fstat(fd, &st) < 0) e = -errno;
	else if (!S_ISREG(st.st_mode)) e = -EINVAL;
	else {
		struct node *n = get(st.st_ino);
		e = n ? trunc_node(n, fd, size) : -ENOMEM;
	}
	if (!fi) close(fd);
	return e;
}
static int pc_truncate(const char *path, off_t size, struct fuse_file_info *fi) {
	LOCKED(do_truncate(path, size, fi));
}

static int pc_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi) {
	pthread_mutex_lock(&lock);
	int r = fi ? futimens(H(fi)->fd, tv) : utimensat(rootfd, rel(path), tv, AT_SYMLINK_NOFOLLOW);
	int e = r < 0 ? -errno : 0;
	struct stat st;
	if (!e && (fi ? fstat(H(fi)->fd, &st) : fstatat(rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW)) == 0) {
		struct node *n = find(st.st_ino);
		if (n) n->has_mtime = 0;
	}
	pthread_mutex_unlock(&lock);
	return e;
}

/* Opens the backing file read-write when it can (fsync must be able to write), never with O_APPEND or O_TRUNC:
 * both are applied to the logical view. */
static int do_open(const char *path, struct fuse_file_info *fi, int creating, mode_t mode) {
	int flags = fi->flags & ~(O_APPEND | O_TRUNC | O_CREAT | O_EXCL | O_NOCTTY);
	int acc = fi->flags & O_ACCMODE;
	int existed = 1;
	if (creating) {
		struct stat st;
		existed = fstatat(rootfd, rel(path), &st, AT_SYMLINK_NOFOLLOW) == 0;
		if (existed && (fi->flags & O_EXCL)) return -EEXIST;
	}
	int cflags = creating ? (O_CREAT | (fi->flags & O_EXCL)) : 0;
	int fd = openat(rootfd, rel(path), ((flags & ~O_ACCMODE) | O_RDWR | cflags), mode);
	if (fd < 0 && (errno == EACCES || errno == EISDIR || errno == ETXTBSY || errno == EROFS || errno == EPERM))
		fd = openat(rootfd, rel(path), flags | cflags, mode);
	if (fd < 0) return -errno;
	struct stat st;
	if (fstat(fd, &st) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	if (creating && !existed) drop_stale(st.st_ino);
	struct handle *h = calloc(1, sizeof *h);
	struct node *n = get(st.st_ino);
	if (!h || !n) {
		free(h);
		close(fd);
		return -ENOMEM;
	}
	h->fd = fd;
	h->ino = st.st_ino;
	h->append = (fi->flags & O_APPEND) != 0;
	n->opens++;
	if ((fi->flags & O_TRUNC) && acc != O_RDONLY && S_ISREG(st.st_mode)) {
		int e = trunc_node(n, fd, 0);
		if (e) {
			n->opens--;
			close(fd);
			free(h);
			maybe_free(n);
			return e;
		}
	}
	fi->fh = (uint64_t)(uintptr_t)h;
	/* All changes go through this mount, so the page cache of the inode stays right across opens. */
	fi->keep_cache = 1;
	fi->direct_io = 0;
	return 0;
}
static int pc_open(const char *path, struct fuse_file_info *fi) {
	LOCKED(do_open(path, fi, 0, 0));
}
static int pc_create(const char *path, mode_t mode, struct fuse_file_info *fi) {
	LOCKED(do_open(path, fi, 1, mode));
}

static int do_read(char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
	struct handle *h = H(fi);
	struct node *n = find(h->ino);
	if (!n || !n->dirty) {
		ssize_t r = pread(h->fd, buf, size, off);
		return r < 0 ? -errno : (int)r;
	}
	if (off >= n->size) return 0;
	if ((off_t)size > n->size - off) size = (size_t)(n->size - off);
	size_t done = 0;
	while (done < size) {
		off_t o = off + (off_t)done;
		size_t pg = (size_t)(o / PAGE);
		size_t in = (size_t)(o % PAGE);
		size_t len = PAGE - in < size - done ? PAGE - in : size - done;
		if (pg < n->cap && n->pages[pg]) memcpy(buf + done, n->pages[pg] + in, len);
		else {
			int e = read_backing(n, h->fd, buf + done, len, o);
			if (e) return e;
		}
		done += len;
	}
	return (int)size;
}
static int pc_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
	(void)path;
	LOCKED(do_read(buf, size, off, fi));
}

static int do_write(const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
	struct handle *h = H(fi);
	struct node *n = get(h->ino);
	if (!n) return -ENOMEM;
	int e = make_dirty(n, h->fd);
	if (e) return e;
	if (h->append) off = n->size;
	size_t done = 0;
	while (done < size) {
		off_t o = off + (off_t)done;
		size_t pg = (size_t)(o / PAGE);
		size_t in = (size_t)(o % PAGE);
		size_t len = PAGE - in < size - done ? PAGE - in : size - done;
		char *p;
		e = page_for_write(n, h->fd, pg, &p);
		if (e) return e;
		memcpy(p + in, buf + done, len);
		done += len;
	}
	if (off + (off_t)size > n->size) n->size = off + (off_t)size;
	n->has_mtime = 1;
	clock_gettime(CLOCK_REALTIME, &n->mtime);
	ctr.writes++;
	ctr.bytes_written += size;
	return (int)size;
}
static int pc_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
	(void)path;
	LOCKED(do_write(buf, size, off, fi));
}

static int pc_statfs(const char *path, struct statvfs *st) {
	(void)path;
	return fstatvfs(rootfd, st) < 0 ? -errno : 0;
}

/* close() is not a sync point: nothing happens here. */
static int pc_flush(const char *path, struct fuse_file_info *fi) {
	(void)path;
	(void)fi;
	return 0;
}

static int do_release(struct fuse_file_info *fi) {
	struct handle *h = H(fi);
	struct node *n = find(h->ino);
	close(h->fd);
	if (n) {
		n->opens--;
		if (n->orphan && n->opens <= 0) {
			if (n->dirty) {
				ctr.unlinked_dropped++;
				ctr.unlinked_dropped_bytes += dirty_bytes(n);
			}
			drop_pages(n);
		}
		maybe_free(n);
	}
	free(h);
	return 0;
}
static int pc_release(const char *path, struct fuse_file_info *fi) {
	(void)path;
	LOCKED(do_release(fi));
}

static int do_fsync(int datasync, struct fuse_file_info *fi) {
	struct handle *h = H(fi);
	if (datasync) ctr.fdatasyncs++;
	else ctr.fsyncs++;
	return sync_node(find(h->ino), h->fd);
}
static int pc_fsync(const char *path, int datasync, struct fuse_file_info *fi) {
	(void)path;
	LOCKED(do_fsync(datasync, fi));
}

static int pc_fsyncdir(const char *path, int datasync, struct fuse_file_info *fi) {
	(void)path;
	(void)datasync;
	(void)fi;
	pthread_mutex_lock(&lock);
	ctr.fsyncdirs++;
	pthread_mutex_unlock(&lock);
	return 0;
}

static const struct fuse_operations ops = {
	.init = pc_init,
	.destroy = pc_destroy,
	.getattr = pc_getattr,
	.access = pc_access,
	.readlink = pc_readlink,
	.opendir = pc_opendir,
	.readdir = pc_readdir,
	.releasedir = pc_releasedir,
	.mknod = pc_mknod,
	.mkdir = pc_mkdir,
	.symlink = pc_symlink,
	.unlink = pc_unlink,
	.rmdir = pc_rmdir,
	.rename = pc_rename,
	.link = pc_link,
	.chmod = pc_chmod,
	.chown = pc_chown,
	.truncate = pc_truncate,
	.utimens = pc_utimens,
	.open = pc_open,
	.create = pc_create,
	.read = pc_read,
	.write = pc_write,
	.statfs = pc_statfs,
	.flush = pc_flush,
	.release = pc_release,
	.fsync = pc_fsync,
	.fsyncdir = pc_fsyncdir,
};

static const struct fuse_opt pc_opts[] = {
	{"backing=%s", offsetof(typeof(opts), backing), 0},
	{"stats=%s", offsetof(typeof(opts), stats), 0},
	FUSE_OPT_END,
};

int main(int argc, char *argv[]) {
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	if (fuse_opt_parse(&args, &opts, pc_opts, NULL) == -1) return 1;
	if (!opts.backing) {
		fprintf(stderr, "usage: %s MOUNTPOINT -o backing=DIR[,stats=FILE] [-f] [-s] [FUSE options]\n", argv[0]);
		return 1;
	}
	rootfd = open(opts.backing, O_RDONLY | O_DIRECTORY);
	if (rootfd < 0) {
		perror(opts.backing);
		return 1;
	}
	umask(0);
	static sigset_t set;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	pthread_t t;
	pthread_create(&t, NULL, stats_thread, &set);
	pthread_detach(t);
	int r = fuse_main(args.argc, args.argv, &ops, NULL);
	fuse_opt_free_args(&args);
	return r;
}
