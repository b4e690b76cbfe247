/// tk_available_cpus: how many CPUs this process can actually keep busy, the size a thread
/// pool should have. The affinity mask (taskset, cpusets) bounds it, and so does a cgroup CPU
/// quota (containers: `docker --cpus=1.5` allows 150 ms of CPU per 100 ms, whatever the mask).
#define _GNU_SOURCE
#include "tessera_kernels.h"

#include <unistd.h>

#ifdef __linux__
#include <sched.h>
#include <stdio.h>
#include <string.h>

/// CPUs for `quota` microseconds per `period`, rounded up; 0 for no limit (or nonsense).
static int quota_cpus(long long quota, long long period) {
    if (quota <= 0 || period <= 0) return 0;
    long long cpus = quota / period + (quota % period != 0);
    return cpus > 1 << 20 ? 1 << 20 : (int)cpus;
}

/// The limit in a cgroup v2 `cpu.max` text ("max 100000" or "150000 100000"), 0 for none.
static int parse_cpu_max(const char *text) {
    long long quota = 0, period = 0;
    if (sscanf(text, "%lld %lld", &quota, &period) != 2) return 0;   /* "max ...": none */
    return quota_cpus(quota, period);
}

/// The first integer of a file, or `fallback`.
static long long read_number(const char *path, long long fallback) {
    FILE *file = fopen(path, "r");
    if (!file) return fallback;
    long long value = fallback;
    if (fscanf(file, "%lld", &value) != 1) value = fallback;
    fclose(file);
    return value;
}

/// The limit in the cgroup directory `dir`: v2 `cpu.max` or v1 `cpu.cfs_quota_us` (-1: none)
/// over `cpu.cfs_period_us`; 0 for none.
static int directory_cpus(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/cpu.max", dir);
    FILE *file = fopen(path, "r");
    if (file) {
        char line[128];
        int cpus = fgets(line, sizeof line, file) ? parse_cpu_max(line) : 0;
        fclose(file);
        return cpus;
    }
    snprintf(path, sizeof path, "%s/cpu.cfs_quota_us", dir);
    long long quota = read_number(path, -1);
    snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
    return quota_cpus(quota, read_number(path, 0));
}

static int tighter(int a, int b) { return a == 0 ? b : (b == 0 || a < b ? a : b); }

/// The tightest limit in `mount` + `relative` and each of its ancestors up to `mount` itself (a
/// parent's quota binds its children). `relative` ("/a/b" or "/") is cut in place.
static int hierarchy_cpus(const char *mount, char *relative) {
    char dir[4200];
    int limit = directory_cpus(mount);
    for (;;) {
        char *slash = strrchr(relative, '/');
        if (!slash || slash[1] == 0) break;               /* "/" or "": the mount itself */
        snprintf(dir, sizeof dir, "%s%s", mount, relative);
        limit = tighter(limit, directory_cpus(dir));
        *slash = 0;
    }
    return limit;
}

/// 1 when the comma-separated controller list names `cpu`.
static int names_cpu(const char *controllers, size_t length) {
    for (size_t start = 0; start < length;) {
        size_t end = start;
        while (end < length && controllers[end] != ',') end++;
        if (end - start == 3 && strncmp(controllers + start, "cpu", 3) == 0) return 1;
        start = end + 1;
    }
    return 0;
}

/// The tightest cgroup CPU quota on this process, 0 for none. The process's cgroups come from
/// /proc/self/cgroup ("0::/path" for v2, "N:cpu,cpuacct:/path" for v1); inside a container
/// with its own cgroup namespace the path is "/" and the mount root is the container's cgroup.
static int cgroup_cpus(void) {
    int limit = 0;
    FILE *file = fopen("/proc/self/cgroup", "r");
    if (!file) return tighter(directory_cpus("/sys/fs/cgroup"), directory_cpus("/sys/fs/cgroup/cpu"));
    char line[4096];
    while (fgets(line, sizeof line, file)) {
        line[strcspn(line, "\n")] = 0;
        char *first = strchr(line, ':');
        char *second = first ? strchr(first + 1, ':') : NULL;
        if (!second) continue;
        char *relative = second + 1;
        if (first + 1 == second) {                         /* v2: "0::/path" */
            limit = tighter(limit, hierarchy_cpus("/sys/fs/cgroup", relative));
        } else if (names_cpu(first + 1, (size_t)(second - first - 1))) {
            char copy[4096];
            snprintf(copy, sizeof copy, "%s", relative);
            limit = tighter(limit, hierarchy_cpus("/sys/fs/cgroup/cpu", relative));
            limit = tighter(limit, hierarchy_cpus("/sys/fs/cgroup/cpu,cpuacct", copy));
        }
    }
    fclose(file);
    return limit;
}
#endif

int tk_available_cpus(void) {
    int cpus = 0;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0) cpus = CPU_COUNT(&set);
#endif
    if (cpus <= 0) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        cpus = online > 0 ? (int)online : 1;
    }
#ifdef __linux__
    int quota = cgroup_cpus();
    if (quota > 0 && quota < cpus) cpus = quota;
#endif
    return cpus < 1 ? 1 : cpus;
}
