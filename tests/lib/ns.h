/* --in-new-ns (ns.c): private to the test library. */
#ifndef CRYO_TESTS_NS_H
#define CRYO_TESTS_NS_H

/* In the launcher, before the fork of the test: the new namespaces. */
int test_ns_unshare(void);
/* In PID 1 of the new namespaces: private mounts (only those the test
 * needs: the root, /sys, /dev, and those holding its working directory,
 * program, @outfile's directory, /tmp and /var/tmp), its own /proc, lo
 * up, a host name.  fail()s and returns -1 on error. */
int test_ns_setup(const char *outfile);
/* In PID 1: fork the test, which returns; PID 1 stays as the init and never
 * returns.  Closes *ready_fd in the init. */
void test_ns_init(int *ready_fd);

#endif
