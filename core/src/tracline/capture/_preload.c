/* tracline's file-access interposer: an LD_PRELOAD library that reports what a process and
 * all its children open, create, rename and remove, whatever the language or library doing
 * it (Python's own open, Arrow/Parquet, HDF5, NumPy memory maps, a C program).
 *
 * It wraps libc's open family (open, openat, creat, fopen, freopen and their 64-bit and
 * fortified forms), rename/renameat/renameat2, unlink/unlinkat/remove, truncate, link/linkat,
 * and the exec and posix_spawn family. Each successful access is appended to the capture log
 * as one line written with one write(2): `<kind> TAB <pid> TAB <absolute path>` (kinds as in
 * capture/_hooks.py: R read, W created or truncated, U updated in place, D removed, N renamed
 * (two paths), X started a program, T a tracer follows a static program, Z a static program
 * ran unobserved), each (kind, path) once per process tree branch.
 *
 * Dormant unless active: with TRACLINE_CAPTURE_LOG in the environment at start-up it is active
 * from the first instruction (`tracline run`); a process started with it preloaded but without
 * that variable (an orchestrator's worker) pays one test of a flag per call until
 * tracline_capture_start() turns it on (an in-process capture, through ctypes) and
 * tracline_capture_stop() off again.
 *
 * While active, a program started with an environment of its own keeps the capture's
 * variables (LD_PRELOAD, PYTHONPATH's bootstrap, TRACLINE_CAPTURE_*), and a statically linked
 * program, which no preloaded library reaches, is started under strace when the capture has
 * one (else a Z record says it went unobserved).
 *
 * Only async-signal-safe calls on the paths that may run in a vfork()ed child (the exec
 * wrappers); no malloc anywhere (keys live in mmap'd memory): a wrapper may be called from a
 * signal handler or between fork and exec.
 */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define LINE_MAX_LEN (2 * PATH_MAX + 64)

extern char **environ;

/* -- state ---------------------------------------------------------------------------------- */

static volatile int active;  /* reporting (a plain int: read on every call) */
static __thread int quiet;   /* this thread's accesses are tracline's own, not the run's */
static int log_fd = -1;
static char capture_dir[PATH_MAX]; /* the capture's own folder: never reported */
static size_t capture_dir_len;
static char strace_path[PATH_MAX];  /* strace for static programs ("" : none) */
static char self_path[PATH_MAX];    /* this library, for LD_PRELOAD */
static int trace_count;

/* The variables a child needs to report to the same capture; saved when it starts. */
#define N_VARS 5
static const char *const VAR_NAMES[N_VARS] = {
    "TRACLINE_CAPTURE_LOG", "TRACLINE_CAPTURE_DIR", "TRACLINE_CAPTURE_STRACE",
    "TRACLINE_CAPTURE_BOOT", "TRACLINE_CAPTURE_PRELOAD",
};
static char var_values[N_VARS][PATH_MAX + 40];
static char boot_dir[PATH_MAX];

/* A spin lock owned by a thread (so that a signal handler on the owning thread skips the
 * set instead of waiting for itself). */
static volatile pid_t lock_owner;

static pid_t
thread_id(void)
{
    return (pid_t)syscall(SYS_gettid);
}

static int
lock(void)
{
    pid_t me = thread_id();
    if (__atomic_load_n(&lock_owner, __ATOMIC_ACQUIRE) == me)
        return 0; /* re-entered from a signal handler on this thread */
    pid_t none = 0;
    while (!__atomic_compare_exchange_n(&lock_owner, &none, me, 0, __ATOMIC_ACQUIRE,
                                        __ATOMIC_RELAXED)) {
        none = 0;
        sched_yield();
    }
    return 1;
}

static void
unlock(void)
{
    __atomic_store_n(&lock_owner, 0, __ATOMIC_RELEASE);
}

/* -- the set of reported keys (kind letter + path), in mmap'd memory ------------------------- */

typedef struct {
    uint64_t hash;
    const char *key; /* NULL: empty */
    size_t len;
} Slot;

static Slot *slots;
static size_t capacity, used;
static char *arena;
static size_t arena_left;

static uint64_t
fnv1a(const char *data, size_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)data[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static void *
pages(size_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

static int
grow(void)
{
    size_t bigger = capacity ? capacity * 2 : 4096;
    Slot *fresh = pages(bigger * sizeof(Slot));
    if (fresh == NULL)
        return 0;
    for (size_t i = 0; i < capacity; i++) {
        if (slots[i].key == NULL)
            continue;
        size_t j = slots[i].hash & (bigger - 1);
        while (fresh[j].key != NULL)
            j = (j + 1) & (bigger - 1);
        fresh[j] = slots[i];
    }
    if (slots != NULL)
        munmap(slots, capacity * sizeof(Slot));
    slots = fresh;
    capacity = bigger;
    return 1;
}

/* 1 when (key, len) is new (and is now remembered), 0 when it was reported already. */
static int
remember(const char *key, size_t len)
{
    if (!lock())
        return 1;
    int fresh = 1;
    if ((used + 1) * 2 > capacity && !grow())
        goto done; /* out of memory: report it again rather than lose it */
    uint64_t h = fnv1a(key, len);
    size_t i = h & (capacity - 1);
    while (slots[i].key != NULL) {
        if (slots[i].hash == h && slots[i].len == len && memcmp(slots[i].key, key, len) == 0) {
            fresh = 0;
            goto done;
        }
        i = (i + 1) & (capacity - 1);
    }
    if (arena_left < len) {
        size_t size = len > (1 << 20) ? len : (1 << 20);
        char *more = pages(size);
        if (more == NULL)
            goto done;
        arena = more;
        arena_left = size;
    }
    memcpy(arena, key, len);
    slots[i].hash = h;
    slots[i].key = arena;
    slots[i].len = len;
    arena += len;
    arena_left -= len;
    used++;
done:
    unlock();
    return fresh;
}

static void
forget_all(void)
{
    if (!lock())
        return;
    if (slots != NULL)
        memset(slots, 0, capacity * sizeof(Slot));
    used = 0;
    unlock();
}

/* -- paths ------------------------------------------------------------------------------------ */

/* Append src to the buffer at *at (bounded by end); 0 when it does not fit. */
static int
append(char **at, const char *end, const char *src, size_t len)
{
    if ((size_t)(end - *at) < len + 1)
        return 0;
    memcpy(*at, src, len);
    *at += len;
    **at = '\0';
    return 1;
}

/* Make `path` absolute in out (relative to dirfd, or to the working directory), with empty,
 * "." and ".." parts resolved as os.path.normpath does. 0 when it cannot be (too long, a
 * descriptor that names no folder). */
static int
absolute(int dirfd, const char *path, char *out, size_t size)
{
    char joined[2 * PATH_MAX];
    char *at = joined;
    const char *end = joined + sizeof(joined);
    joined[0] = '\0';
    if (path[0] != '/') {
        char base[PATH_MAX];
        if (dirfd == AT_FDCWD) {
            if (syscall(SYS_getcwd, base, sizeof(base)) < 0)
                return 0;
        } else {
            char link[64];
            snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
            ssize_t n = readlink(link, base, sizeof(base) - 1);
            if (n <= 0 || base[0] != '/')
                return 0;
            base[n] = '\0';
        }
        if (!append(&at, end, base, strlen(base)) || !append(&at, end, "/", 1))
            return 0;
    }
    if (!append(&at, end, path, strlen(path)))
        return 0;
    /* normalise into out: a stack of component starts */
    size_t n = 0;
    char *o = out;
    const char *p = joined;
    size_t starts[PATH_MAX / 2];
    size_t depth = 0;
    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *q = p;
        while (*q && *q != '/')
            q++;
        size_t len = (size_t)(q - p);
        if (len == 1 && p[0] == '.') {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (depth > 0)
                n = starts[--depth];
        } else {
            if (n + 1 + len + 1 > size || depth >= sizeof(starts) / sizeof(starts[0]))
                return 0;
            starts[depth++] = n;
            o[n++] = '/';
            memcpy(o + n, p, len);
            n += len;
        }
        p = q;
    }
    if (n == 0)
        o[n++] = '/';
    o[n] = '\0';
    return 1;
}

static int
noise(const char *path)
{
    /* what no run reads as data, and the capture's own files: not even written down */
    if (strncmp(path, "/proc/", 6) == 0 || strncmp(path, "/sys/", 5) == 0 ||
        strncmp(path, "/dev/", 5) == 0)
        return 1;
    return capture_dir_len && strncmp(path, capture_dir, capture_dir_len) == 0 &&
           (path[capture_dir_len] == '/' || path[capture_dir_len] == '\0');
}

/* -- the log ------------------------------------------------------------------------------------ */

static void
escape_into(char **at, const char *end, const char *text)
{
    for (const char *c = text; *c && *at < end - 2; c++) {
        char e = *c == '\\' ? '\\' : *c == '\t' ? 't' : *c == '\n' ? 'n' : 0;
        if (e) {
            *(*at)++ = '\\';
            *(*at)++ = e;
        } else {
            *(*at)++ = *c;
        }
    }
}

static void
write_line(char kind, const char *a, const char *b)
{
    char line[LINE_MAX_LEN];
    char *at = line;
    const char *end = line + sizeof(line) - 2;
    int n = snprintf(line, 32, "%c\t%ld", kind, (long)getpid());
    at += n;
    if (a != NULL) {
        *at++ = '\t';
        escape_into(&at, end, a);
    }
    if (b != NULL) {
        *at++ = '\t';
        escape_into(&at, end, b);
    }
    *at++ = '\n';
    int saved = errno;
    ssize_t ignored = write(log_fd, line, (size_t)(at - line));
    (void)ignored;
    errno = saved;
}

/* Report one access to path (relative to dirfd), once per (kind, path). */
static void
report(char kind, int dirfd, const char *path)
{
    char full[PATH_MAX + 2];
    if (quiet || path == NULL || !path[0] || !absolute(dirfd, path, full + 1, sizeof(full) - 1))
        return;
    if (noise(full + 1))
        return;
    full[0] = kind;
    if (remember(full, strlen(full)))
        write_line(kind, full + 1, NULL);
}

static int
exists(int dirfd, const char *path)
{
    return syscall(SYS_faccessat, dirfd, path, F_OK, 0) == 0;
}

/* The kind of an open, decided before it happens (an open that creates cannot tell after). */
static char
open_kind(int dirfd, const char *path, int flags)
{
    if ((flags & O_ACCMODE) == O_RDONLY && !(flags & (O_CREAT | O_APPEND | O_TRUNC)))
        return 'R';
    if ((flags & O_TRUNC) || ((flags & O_CREAT) && (flags & O_EXCL)))
        return 'W';
    return exists(dirfd, path) ? 'U' : 'W';
}

static int
skipped(int flags)
{
    return (flags & O_DIRECTORY) || (flags & O_PATH);
}

static char
fopen_kind(const char *path, const char *mode)
{
    if (mode == NULL)
        return 0;
    if (mode[0] == 'r')
        return strchr(mode, '+') ? (exists(AT_FDCWD, path) ? 'U' : 'W') : 'R';
    if (mode[0] == 'w')
        return 'W';
    if (mode[0] == 'a')
        return exists(AT_FDCWD, path) ? 'U' : 'W';
    return 0;
}

/* -- the real functions --------------------------------------------------------------------------- */

#define REAL(name) static __typeof__(name) *real_##name
REAL(open);
REAL(open64);
REAL(openat);
REAL(openat64);
REAL(creat);
REAL(creat64);
REAL(fopen);
REAL(fopen64);
REAL(freopen);
REAL(freopen64);
REAL(rename);
REAL(renameat);
REAL(renameat2);
REAL(unlink);
REAL(unlinkat);
REAL(remove);
REAL(truncate);
REAL(link);
REAL(linkat);
REAL(execve);
REAL(execv);
REAL(execvp);
REAL(execvpe);
REAL(posix_spawn);
REAL(posix_spawnp);
static int (*real___open_2)(const char *, int);
static int (*real___open64_2)(const char *, int);
static int (*real___openat_2)(int, const char *, int);
static int (*real___openat64_2)(int, const char *, int);

#define RESOLVE(name) real_##name = (__typeof__(real_##name))dlsym(RTLD_NEXT, #name)

static void
resolve_all(void)
{
    RESOLVE(open);
    RESOLVE(open64);
    RESOLVE(openat);
    RESOLVE(openat64);
    RESOLVE(creat);
    RESOLVE(creat64);
    RESOLVE(fopen);
    RESOLVE(fopen64);
    RESOLVE(freopen);
    RESOLVE(freopen64);
    RESOLVE(rename);
    RESOLVE(renameat);
    RESOLVE(renameat2);
    RESOLVE(unlink);
    RESOLVE(unlinkat);
    RESOLVE(remove);
    RESOLVE(truncate);
    RESOLVE(link);
    RESOLVE(linkat);
    RESOLVE(execve);
    RESOLVE(execv);
    RESOLVE(execvp);
    RESOLVE(execvpe);
    RESOLVE(posix_spawn);
    RESOLVE(posix_spawnp);
    RESOLVE(__open_2);
    RESOLVE(__open64_2);
    RESOLVE(__openat_2);
    RESOLVE(__openat64_2);
}

/* A library's constructor may call a wrapper before this library's own has run. */
#define ENSURE(name)                                                                    \
    if (__builtin_expect(real_##name == NULL, 0))                                       \
        resolve_all();

/* -- activation ------------------------------------------------------------------------------------ */

static void
copy(char *dst, size_t size, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    if (n >= size)
        n = size - 1;
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A variable of this process's environment (not getenv: a program may define its own, as
 * bash does, which does not work before the program has started). */
static const char *
env_get(const char *name)
{
    size_t len = strlen(name);
    for (char **e = environ; e && *e; e++)
        if (strncmp(*e, name, len) == 0 && (*e)[len] == '=')
            return *e + len + 1;
    return NULL;
}

/* Start reporting to the log the environment names (TRACLINE_CAPTURE_LOG, ...): 1 if active. */
EXPORT int
tracline_capture_start(void)
{
    const char *log = env_get("TRACLINE_CAPTURE_LOG");
    if (log == NULL || !*log)
        return 0;
    int fd = (int)syscall(SYS_openat, AT_FDCWD, log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
                          0600);
    if (fd < 0)
        return 0;
    int old = log_fd;
    for (int i = 0; i < N_VARS; i++) {
        const char *value = env_get(VAR_NAMES[i]);
        if (value != NULL)
            snprintf(var_values[i], sizeof(var_values[i]), "%s=%s", VAR_NAMES[i], value);
        else
            var_values[i][0] = '\0';
    }
    copy(capture_dir, sizeof(capture_dir), env_get("TRACLINE_CAPTURE_DIR"));
    capture_dir_len = strlen(capture_dir);
    copy(strace_path, sizeof(strace_path), env_get("TRACLINE_CAPTURE_STRACE"));
    copy(boot_dir, sizeof(boot_dir), env_get("TRACLINE_CAPTURE_BOOT"));
    forget_all();
    log_fd = fd;
    __atomic_store_n(&active, 1, __ATOMIC_RELEASE);
    if (old >= 0 && old != fd)
        close(old);
    return 1;
}

/* Stop reporting (the in-process capture has ended); the log is closed. */
EXPORT void
tracline_capture_stop(void)
{
    __atomic_store_n(&active, 0, __ATOMIC_RELEASE);
    if (log_fd >= 0) {
        close(log_fd);
        log_fd = -1;
    }
}

/* Whether this thread's accesses are reported (0) or are tracline's own (1). */
EXPORT void
tracline_capture_quiet(int on)
{
    quiet = on;
}

/* 1 while reporting. */
EXPORT int
tracline_capture_active(void)
{
    return active;
}

__attribute__((constructor)) static void
init(void)
{
    resolve_all();
    Dl_info info;
    if (dladdr((void *)&init, &info) && info.dli_fname)
        copy(self_path, sizeof(self_path), info.dli_fname);
    tracline_capture_start();
}

/* -- the open family ------------------------------------------------------------------------------ */

#define OPEN_MODE(flags, mode)                                 \
    mode_t mode = 0;                                           \
    if ((flags) & (O_CREAT | __O_TMPFILE)) {                   \
        va_list ap;                                            \
        va_start(ap, flags);                                   \
        mode = va_arg(ap, mode_t);                             \
        va_end(ap);                                            \
    }

static int
after_open(int fd, char kind, int dirfd, const char *path)
{
    if (fd >= 0 && kind)
        report(kind, dirfd, path);
    return fd;
}

#define WRAP_OPEN(name)                                                                 \
    EXPORT int name(const char *path, int flags, ...)                                   \
    {                                                                                   \
        ENSURE(name);                                                                   \
        OPEN_MODE(flags, mode);                                                         \
        if (!active || skipped(flags))                                                  \
            return real_##name(path, flags, mode);                                      \
        char kind = open_kind(AT_FDCWD, path, flags);                                   \
        return after_open(real_##name(path, flags, mode), kind, AT_FDCWD, path);        \
    }
WRAP_OPEN(open)
WRAP_OPEN(open64)

#define WRAP_OPENAT(name)                                                               \
    EXPORT int name(int dirfd, const char *path, int flags, ...)                        \
    {                                                                                   \
        ENSURE(name);                                                                   \
        OPEN_MODE(flags, mode);                                                         \
        if (!active || skipped(flags))                                                  \
            return real_##name(dirfd, path, flags, mode);                               \
        char kind = open_kind(dirfd, path, flags);                                      \
        return after_open(real_##name(dirfd, path, flags, mode), kind, dirfd, path);    \
    }
WRAP_OPENAT(openat)
WRAP_OPENAT(openat64)

#define WRAP_OPEN2(name)                                                                \
    EXPORT int name(const char *path, int flags)                                        \
    {                                                                                   \
        ENSURE(name);                                                                   \
        if (!active || skipped(flags))                                                  \
            return real_##name(path, flags);                                            \
        char kind = open_kind(AT_FDCWD, path, flags);                                   \
        return after_open(real_##name(path, flags), kind, AT_FDCWD, path);              \
    }
WRAP_OPEN2(__open_2)
WRAP_OPEN2(__open64_2)

#define WRAP_OPENAT2(name)                                                              \
    EXPORT int name(int dirfd, const char *path, int flags)                             \
    {                                                                                   \
        ENSURE(name);                                                                   \
        if (!active || skipped(flags))                                                  \
            return real_##name(dirfd, path, flags);                                     \
        char kind = open_kind(dirfd, path, flags);                                      \
        return after_open(real_##name(dirfd, path, flags), kind, dirfd, path);          \
    }
WRAP_OPENAT2(__openat_2)
WRAP_OPENAT2(__openat64_2)

#define WRAP_CREAT(name)                                                                \
    EXPORT int name(const char *path, mode_t mode)                                      \
    {                                                                                   \
        ENSURE(name);                                                                   \
        return after_open(real_##name(path, mode), active ? 'W' : 0, AT_FDCWD, path);   \
    }
WRAP_CREAT(creat)
WRAP_CREAT(creat64)

#define WRAP_FOPEN(name)                                                                \
    EXPORT FILE *name(const char *path, const char *mode)                               \
    {                                                                                   \
        ENSURE(name);                                                                   \
        if (!active)                                                                    \
            return real_##name(path, mode);                                             \
        char kind = fopen_kind(path, mode);                                             \
        FILE *file = real_##name(path, mode);                                           \
        if (file != NULL && kind)                                                       \
            report(kind, AT_FDCWD, path);                                               \
        return file;                                                                    \
    }
WRAP_FOPEN(fopen)
WRAP_FOPEN(fopen64)

#define WRAP_FREOPEN(name)                                                              \
    EXPORT FILE *name(const char *path, const char *mode, FILE *stream)                 \
    {                                                                                   \
        ENSURE(name);                                                                   \
        if (!active || path == NULL)                                                    \
            return real_##name(path, mode, stream);                                     \
        char kind = fopen_kind(path, mode);                                             \
        FILE *file = real_##name(path, mode, stream);                                   \
        if (file != NULL && kind)                                                       \
            report(kind, AT_FDCWD, path);                                               \
        return file;                                                                    \
    }
WRAP_FREOPEN(freopen)
WRAP_FREOPEN(freopen64)

/* -- renames, removals, truncation, links --------------------------------------------------------- */

static void
report_rename(int sdir, const char *src, int ddir, const char *dst)
{
    char a[PATH_MAX], b[PATH_MAX];
    if (!quiet && absolute(sdir, src, a, sizeof(a)) && absolute(ddir, dst, b, sizeof(b)) &&
        !noise(b))
        write_line('N', a, b);
}

EXPORT int
rename(const char *src, const char *dst)
{
    ENSURE(rename);
    int rc = real_rename(src, dst);
    if (rc == 0 && active)
        report_rename(AT_FDCWD, src, AT_FDCWD, dst);
    return rc;
}

EXPORT int
renameat(int sdir, const char *src, int ddir, const char *dst)
{
    ENSURE(renameat);
    int rc = real_renameat(sdir, src, ddir, dst);
    if (rc == 0 && active)
        report_rename(sdir, src, ddir, dst);
    return rc;
}

EXPORT int
renameat2(int sdir, const char *src, int ddir, const char *dst, unsigned int flags)
{
    ENSURE(renameat2);
    int rc = real_renameat2(sdir, src, ddir, dst, flags);
    if (rc == 0 && active)
        report_rename(sdir, src, ddir, dst);
    return rc;
}

static void
report_removed(int dirfd, const char *path)
{
    char full[PATH_MAX];
    if (!quiet && absolute(dirfd, path, full, sizeof(full)) && !noise(full))
        write_line('D', full, NULL);
}

EXPORT int
unlink(const char *path)
{
    ENSURE(unlink);
    int rc = real_unlink(path);
    if (rc == 0 && active)
        report_removed(AT_FDCWD, path);
    return rc;
}

EXPORT int
unlinkat(int dirfd, const char *path, int flags)
{
    ENSURE(unlinkat);
    int rc = real_unlinkat(dirfd, path, flags);
    if (rc == 0 && active && !(flags & AT_REMOVEDIR))
        report_removed(dirfd, path);
    return rc;
}

EXPORT int
remove(const char *path)
{
    ENSURE(remove);
    struct stat st;
    int file = active && lstat(path, &st) == 0 && !S_ISDIR(st.st_mode);
    int rc = real_remove(path);
    if (rc == 0 && file)
        report_removed(AT_FDCWD, path);
    return rc;
}

EXPORT int
truncate(const char *path, off_t length)
{
    ENSURE(truncate);
    int rc = real_truncate(path, length);
    if (rc == 0 && active)
        report('U', AT_FDCWD, path);
    return rc;
}

EXPORT int
link(const char *src, const char *dst)
{
    ENSURE(link);
    int rc = real_link(src, dst);
    if (rc == 0 && active)
        report('W', AT_FDCWD, dst);
    return rc;
}

EXPORT int
linkat(int sdir, const char *src, int ddir, const char *dst, int flags)
{
    ENSURE(linkat);
    int rc = real_linkat(sdir, src, ddir, dst, flags);
    if (rc == 0 && active)
        report('W', ddir, dst);
    return rc;
}

/* -- starting programs ---------------------------------------------------------------------------- */

/* Find program on PATH as execvp does (into out); 0 when not found. */
static int
search_path(const char *program, char *out, size_t size)
{
    if (strchr(program, '/')) {
        copy(out, size, program);
        return 1;
    }
    const char *path = env_get("PATH");
    if (path == NULL)
        path = "/bin:/usr/bin";
    while (*path) {
        const char *colon = strchr(path, ':');
        size_t len = colon ? (size_t)(colon - path) : strlen(path);
        if (len + 1 + strlen(program) + 1 <= size) {
            memcpy(out, len ? path : ".", len ? len : 1);
            size_t n = len ? len : 1;
            out[n] = '/';
            strcpy(out + n + 1, program);
            if (syscall(SYS_faccessat, AT_FDCWD, out, X_OK, 0) == 0)
                return 1;
        }
        if (!colon)
            break;
        path = colon + 1;
    }
    return 0;
}

/* 1 for an ELF executable without a program interpreter (statically linked: no preloaded
 * library reaches it); 0 for anything else (a dynamic program, a script, unreadable). */
static int
is_static(const char *path)
{
    int fd = (int)syscall(SYS_openat, AT_FDCWD, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int found_static = 0;
    Elf64_Ehdr eh;
    if (pread(fd, &eh, sizeof(eh), 0) == (ssize_t)sizeof(eh) &&
        memcmp(eh.e_ident, ELFMAG, SELFMAG) == 0 && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
        eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum > 0 && eh.e_phnum < 256) {
        Elf64_Phdr ph[256];
        ssize_t want = (ssize_t)(eh.e_phnum * sizeof(Elf64_Phdr));
        if (pread(fd, ph, (size_t)want, (off_t)eh.e_phoff) == want) {
            found_static = 1;
            for (int i = 0; i < eh.e_phnum; i++)
                if (ph[i].p_type == PT_INTERP)
                    found_static = 0;
        }
    }
    close(fd);
    return found_static;
}

/* The environment a child gets: envp plus the capture's variables where it lacks them
 * (LD_PRELOAD and PYTHONPATH extended, not replaced). Built in the caller's buffers. */
#define ENV_EXTRA (N_VARS + 2)
static char **
child_env(char *const envp[], char **out, size_t out_len, char *preload, size_t preload_len,
          char *pypath, size_t pypath_len)
{
    size_t n = 0;
    int have[N_VARS] = {0};
    int have_preload = 0, have_pypath = 0;
    for (size_t i = 0; envp && envp[i] && n < out_len - ENV_EXTRA - 1; i++) {
        const char *e = envp[i];
        int handled = 0;
        for (int v = 0; v < N_VARS; v++) {
            size_t len = strlen(VAR_NAMES[v]);
            if (strncmp(e, VAR_NAMES[v], len) == 0 && e[len] == '=')
                have[v] = 1;
        }
        if (strncmp(e, "LD_PRELOAD=", 11) == 0) {
            have_preload = 1;
            if (self_path[0] && !strstr(e + 11, self_path)) {
                snprintf(preload, preload_len, "LD_PRELOAD=%s:%s", self_path, e + 11);
                out[n++] = preload;
                handled = 1;
            }
        } else if (strncmp(e, "PYTHONPATH=", 11) == 0) {
            have_pypath = 1;
            if (boot_dir[0] && !strstr(e + 11, boot_dir)) {
                snprintf(pypath, pypath_len, "PYTHONPATH=%s%s%s", boot_dir, e[11] ? ":" : "",
                         e + 11);
                out[n++] = pypath;
                handled = 1;
            }
        }
        if (!handled)
            out[n++] = (char *)e;
    }
    for (int v = 0; v < N_VARS; v++)
        if (!have[v] && var_values[v][0])
            out[n++] = var_values[v];
    if (!have_preload && self_path[0]) {
        snprintf(preload, preload_len, "LD_PRELOAD=%s", self_path);
        out[n++] = preload;
    }
    if (!have_pypath && boot_dir[0]) {
        snprintf(pypath, pypath_len, "PYTHONPATH=%s", boot_dir);
        out[n++] = pypath;
    }
    out[n] = NULL;
    return out;
}

/* env (a buffer built by child_env) less LD_PRELOAD: strace itself must not be observed
 * (it would see its own exec of the static program as one more to trace). */
static char *const *
without_preload(char *const *env)
{
    char **list = (char **)env;
    size_t j = 0;
    for (size_t i = 0; list[i]; i++)
        if (strncmp(list[i], "LD_PRELOAD=", 11) != 0)
            list[j++] = list[i];
    list[j] = NULL;
    return env;
}

static size_t
count(char *const list[])
{
    size_t n = 0;
    while (list && list[n])
        n++;
    return n;
}

/* For a static program: the argv that runs it under strace (into out), writing its trace in
 * the capture folder, after a T record (the run's end waits for that tracer). NULL: as is. */
static char **
under_strace(const char *program, char *const argv[], char **out, size_t out_len,
             char *trace, size_t trace_len)
{
    if (!strace_path[0] || !capture_dir[0] || count(argv) + 24 > out_len)
        return NULL;
    int n = __atomic_add_fetch(&trace_count, 1, __ATOMIC_RELAXED);
    snprintf(trace, trace_len, "%s/strace.%ld.%d", capture_dir, (long)getpid(), n);
    write_line('T', trace, NULL);
    static const char *const head[] = {
        "-DD", "-I1", "-f", "-qq", "-y", "-s", "0", "-e",
        "trace=openat,open,creat,rename,renameat,renameat2,unlink,unlinkat,execve,chdir,"
        "fchdir,clone,clone3,fork,vfork",
        "-e", "status=successful", "-e", "signal=none", "-E", "TRACLINE_CAPTURE_TRACED=1",
        "-o",
    };
    size_t k = 0;
    out[k++] = strace_path;
    for (size_t i = 0; i < sizeof(head) / sizeof(head[0]); i++)
        out[k++] = (char *)head[i];
    out[k++] = trace;
    out[k++] = "--";
    out[k++] = (char *)program;
    for (size_t i = 1; argv[i]; i++)
        out[k++] = argv[i];
    out[k] = NULL;
    return out;
}

/* What a wrapper of the exec family does before the program starts: report it, fix its
 * environment, send a static program to strace. Sets *file / *args / *env to what to run. */
#define PREPARE_EXEC(program_in, argv_in, envp_in, searched)                               \
    char resolved[PATH_MAX];                                                               \
    const char *file = program_in;                                                         \
    char *const *args = argv_in;                                                           \
    char *const *env = envp_in;                                                            \
    size_t n_env = count(envp_in) + ENV_EXTRA + 1;                                         \
    char *env_buf[n_env];                                                                  \
    char preload[PATH_MAX * 2 + 16], pypath[PATH_MAX * 2 + 16], trace[PATH_MAX + 64];      \
    size_t n_args = count(argv_in) + 24;                                                   \
    char *arg_buf[n_args];                                                                 \
    if (active) {                                                                          \
        env = child_env(envp_in, env_buf, n_env, preload, sizeof(preload), pypath,         \
                        sizeof(pypath));                                                   \
        if ((searched ? search_path(program_in, resolved, sizeof(resolved))                \
                      : (copy(resolved, sizeof(resolved), program_in), 1))) {              \
            char full[PATH_MAX];                                                           \
            if (absolute(AT_FDCWD, resolved, full, sizeof(full)))                          \
                write_line('X', full, NULL);                                               \
            if (strcmp(full, strace_path) != 0 && is_static(resolved)) {                   \
                char **wrapped = under_strace(resolved, argv_in, arg_buf, n_args, trace,   \
                                              sizeof(trace));                              \
                if (wrapped != NULL) {                                                     \
                    file = strace_path;                                                    \
                    args = wrapped;                                                        \
                    env = without_preload(env);                                            \
                } else {                                                                   \
                    write_line('Z', full, NULL);                                           \
                }                                                                          \
            }                                                                              \
        }                                                                                  \
    }

EXPORT int
execve(const char *path, char *const argv[], char *const envp[])
{
    ENSURE(execve);
    if (!active)
        return real_execve(path, argv, envp);
    PREPARE_EXEC(path, argv, envp, 0);
    return real_execve(file, args, env);
}

EXPORT int
execv(const char *path, char *const argv[])
{
    ENSURE(execv);
    if (!active)
        return real_execv(path, argv);
    PREPARE_EXEC(path, argv, environ, 0);
    return real_execve(file, args, env);
}

EXPORT int
execvpe(const char *program, char *const argv[], char *const envp[])
{
    ENSURE(execvpe);
    if (!active)
        return real_execvpe(program, argv, envp);
    PREPARE_EXEC(program, argv, envp, 1);
    return real_execvpe(file, args, env);
}

EXPORT int
execvp(const char *program, char *const argv[])
{
    ENSURE(execvp);
    if (!active)
        return real_execvp(program, argv);
    PREPARE_EXEC(program, argv, environ, 1);
    return real_execvpe(file, args, env);
}

EXPORT int
posix_spawn(pid_t *pid, const char *path, const posix_spawn_file_actions_t *actions,
            const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    ENSURE(posix_spawn);
    if (!active)
        return real_posix_spawn(pid, path, actions, attr, argv, envp);
    PREPARE_EXEC(path, argv, envp, 0);
    return real_posix_spawn(pid, file, actions, attr, args, env);
}

EXPORT int
posix_spawnp(pid_t *pid, const char *program, const posix_spawn_file_actions_t *actions,
             const posix_spawnattr_t *attr, char *const argv[], char *const envp[])
{
    ENSURE(posix_spawnp);
    if (!active)
        return real_posix_spawnp(pid, program, actions, attr, argv, envp);
    PREPARE_EXEC(program, argv, envp, 1);
    return real_posix_spawnp(pid, file, actions, attr, args, env);
}

/* execl, execlp, execle: glibc builds their argv and calls its own execve, which no
 * preloaded library sees; here they go through the wrappers above. */
#define LIST_ARGS(first, ap, argv)                                                         \
    size_t n_list = 1;                                                                     \
    va_list count_ap;                                                                      \
    va_copy(count_ap, ap);                                                                 \
    while (va_arg(count_ap, char *) != NULL)                                               \
        n_list++;                                                                          \
    va_end(count_ap);                                                                      \
    char *argv[n_list + 1];                                                                \
    argv[0] = (char *)first;                                                               \
    for (size_t i = 1; i <= n_list; i++)                                                   \
        argv[i] = va_arg(ap, char *);

EXPORT int
execl(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    LIST_ARGS(arg, ap, argv);
    va_end(ap);
    return execv(path, argv);
}

EXPORT int
execlp(const char *program, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    LIST_ARGS(arg, ap, argv);
    va_end(ap);
    return execvp(program, argv);
}

EXPORT int
execle(const char *path, const char *arg, ...)
{
    va_list ap;
    va_start(ap, arg);
    LIST_ARGS(arg, ap, argv);
    char *const *envp = va_arg(ap, char *const *);
    va_end(ap);
    return execve(path, argv, envp);
}
