/*
 * floor: the kernel's own cost of starting a pod container, and nothing
 * else, for `make bench` to put beside podshim, runc and crun.
 *
 *   floor PAUSE_PID ROOTFS CMD [ARG...]   join PAUSE_PID's net, ipc and uts
 *   floor - ROOTFS CMD [ARG...]           new net, ipc and uts instead
 *
 * Then: unshare pid and mount namespaces, fork (the child is pid 1 of the
 * new pid namespace), make the mounts private, bind ROOTFS onto itself,
 * pivot_root into it, mount /proc, exec CMD. The parent waits and exits
 * with the child's status. No cgroups, no state, no error messages beyond
 * perror: it is a measuring stick, not a runtime.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what) {
    perror(what);
    _exit(127);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: floor PAUSE_PID|- ROOTFS CMD [ARG...]\n");
        return 2;
    }
    int flags = CLONE_NEWPID | CLONE_NEWNS;
    if (argv[1][0] == '-') {
        flags |= CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS;
    } else {
        const char *kinds[] = {"net", "ipc", "uts"};
        for (int i = 0; i < 3; i++) {
            char path[64];
            snprintf(path, sizeof path, "/proc/%s/ns/%s", argv[1], kinds[i]);
            int fd = open(path, O_RDONLY | O_CLOEXEC);
            if (fd < 0 || setns(fd, 0) < 0)
                die(path);
            close(fd);
        }
    }
    if (unshare(flags) < 0)
        die("unshare");
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        const char *root = argv[2];
        if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
            die("make mounts private");
        if (mount(root, root, NULL, MS_BIND | MS_REC, NULL) < 0)
            die("bind rootfs");
        if (chdir(root) < 0)
            die("chdir rootfs");
        if (syscall(SYS_pivot_root, ".", ".") < 0)
            die("pivot_root");
        if (umount2(".", MNT_DETACH) < 0)
            die("detach old root");
        if (chdir("/") < 0)
            die("chdir /");
        if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
            die("mount /proc");
        execv(argv[3], argv + 3);
        die("exec");
    }
    int status;
    if (waitpid(pid, &status, 0) < 0)
        die("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
