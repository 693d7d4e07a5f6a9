/*
 * fsync_snapshot: an LD_PRELOAD shim that records, for a simulated power cut, what a disk would hold after
 * one: only what was made durable. After every successful fsync()/fdatasync() on a regular file under
 * POWERCUT_DATA_DIR it copies the file's bytes to POWERCUT_SHADOW/inodes/<device>-<inode> (the file's data
 * is durable from then on, whatever its name); after one on a directory it writes the directory's entries
 * (kind, device-inode, name) to POWERCUT_SHADOW/dirs/<path relative to the data dir, '/' as '%', '@' for
 * the data dir itself> (its names are durable from then on). Each record is written to a temporary file
 * and renamed, so a process killed in the middle leaves the previous record whole.
 * tests/system/powercut.py rebuilds the disk from them.
 *
 * With POWERCUT_AT_SYNC=N the process kills itself (SIGKILL) at its Nth fsync/fdatasync under the data
 * dir, before the real call: the power goes while that data is on its way to the disk. Counting starts
 * once the file POWERCUT_ARMED names exists (the test's checks at start-up are not cut short).
 *
 * Does nothing (but the real call) for files outside POWERCUT_DATA_DIR or when the variables are unset.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static const char *data_dir(void) { return getenv("POWERCUT_DATA_DIR"); }
static const char *shadow_dir(void) { return getenv("POWERCUT_SHADOW"); }

/* The fd's path relative to the data dir ("" for the data dir itself), or NULL when outside it. */
static const char *relative_path(int fd, char *buf, size_t size) {
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, size - 1);
    const char *root = data_dir();
    if (n <= 0 || root == NULL) return NULL;
    buf[n] = '\0';
    size_t len = strlen(root);
    if (strncmp(buf, root, len) != 0 || (buf[len] != '\0' && buf[len] != '/')) return NULL;
    return buf[len] == '/' ? buf + len + 1 : buf + len;
}

static int write_all(int fd, const char *data, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        data += n;
        size -= (size_t)n;
    }
    return 0;
}

/* Write `size` bytes to `final` through a temp file and a rename. */
static void record(const char *final, const char *data, size_t size) {
    char temp[2 * PATH_MAX + 32];
    snprintf(temp, sizeof temp, "%s.tmp-%ld", final, (long)syscall(SYS_gettid));
    int out = open(temp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (out < 0) return;
    int ok = write_all(out, data, size) == 0;
    close(out);
    if (ok) rename(temp, final); else unlink(temp);
}

static void snapshot_file(int fd, const struct stat *st) {
    char final[2 * PATH_MAX], link[64];
    snprintf(final, sizeof final, "%s/inodes/%lu-%lu", shadow_dir(), (unsigned long)st->st_dev,
             (unsigned long)st->st_ino);
    /* The caller's fd may be open for writing only: read the same file through a descriptor of our own. */
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    int in = open(link, O_RDONLY | O_CLOEXEC);
    if (in < 0) return;
    size_t size = (size_t)st->st_size;
    char *data = malloc(size ? size : 1);
    size_t got = 0;
    while (data != NULL && got < size) {
        ssize_t n = pread(in, data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(in);
    if (data != NULL && got == size) record(final, data, got);
    free(data);
}

static void snapshot_dir(const char *relative) {
    char path[2 * PATH_MAX], final[2 * PATH_MAX], name[PATH_MAX];
    snprintf(path, sizeof path, "%s%s%s", data_dir(), *relative ? "/" : "", relative);
    snprintf(name, sizeof name, "%s", *relative ? relative : "@");  /* "@": the data dir itself */
    for (char *c = name; *c; c++) if (*c == '/') *c = '%';
    snprintf(final, sizeof final, "%s/dirs/%s", shadow_dir(), name);
    DIR *dir = opendir(path);
    if (dir == NULL) return;
    size_t cap = 4096, used = 0;
    char *text = malloc(cap);
    struct dirent *entry;
    while (text != NULL && (entry = readdir(dir)) != NULL) {
        if (!strcmp(entry->d_name, ".") || !strcmp(entry->d_name, "..")) continue;
        struct stat st;
        if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
        char kind = S_ISDIR(st.st_mode) ? 'd' : S_ISREG(st.st_mode) ? 'f' : 0;
        if (!kind) continue;
        char line[PATH_MAX + 64];
        int n = snprintf(line, sizeof line, "%c\t%lu-%lu\t%s\n", kind, (unsigned long)st.st_dev,
                         (unsigned long)st.st_ino, entry->d_name);
        if (used + (size_t)n + 1 > cap) {
            cap = 2 * (used + (size_t)n + 1);
            char *bigger = realloc(text, cap);
            if (bigger == NULL) { free(text); text = NULL; break; }
            text = bigger;
        }
        memcpy(text + used, line, (size_t)n);
        used += (size_t)n;
    }
    closedir(dir);
    if (text != NULL) record(final, text, used);
    free(text);
}

static long syncs = 0;

/* Before the real call: count the syncs under the data dir, and die at the one POWERCUT_AT_SYNC names. */
static void maybe_cut(int fd) {
    const char *at = getenv("POWERCUT_AT_SYNC"), *armed = getenv("POWERCUT_ARMED");
    char buf[PATH_MAX];
    if (at == NULL || (armed != NULL && access(armed, F_OK) != 0)) return;
    if (relative_path(fd, buf, sizeof buf) == NULL) return;
    pthread_mutex_lock(&lock);
    long n = ++syncs;
    pthread_mutex_unlock(&lock);
    if (n == atol(at)) kill(getpid(), SIGKILL);
}

static void snapshot(int fd) {
    if (data_dir() == NULL || shadow_dir() == NULL) return;
    char buf[PATH_MAX];
    const char *relative = relative_path(fd, buf, sizeof buf);
    struct stat st;
    if (relative == NULL || fstat(fd, &st) != 0) return;
    int saved = errno;
    pthread_mutex_lock(&lock);
    if (S_ISREG(st.st_mode)) snapshot_file(fd, &st);
    else if (S_ISDIR(st.st_mode)) snapshot_dir(relative);
    pthread_mutex_unlock(&lock);
    errno = saved;
}

int fsync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    maybe_cut(fd);
    int result = real(fd);
    if (result == 0) snapshot(fd);
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int) = NULL;
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    maybe_cut(fd);
    int result = real(fd);
    if (result == 0) snapshot(fd);
    return result;
}
