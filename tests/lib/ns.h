/* --in-new-ns (ns.c): private to the test library. */
#ifndef CRYO_TESTS_NS_H
#define CRYO_TESTS_NS_H

#include <stdbool.h>

/* --in-new-userns: the host uid and gid of root inside (maps 0 100000 65536) */
#define TEST_USERNS_HOST_ID 100000
#define TEST_USERNS_HOST_ID_STR "100000"

/* In the launcher, before the fork of the test: the new namespaces; with
 * @userns owned by a new user namespace, the test root inside (its
 * @outfile, its working directory and @pidfile's handed to it). */
int test_ns_unshare(bool userns, const char *outfile, const char *pidfile);
/* In PID 1 of the new namespaces: private mounts (only those the test
 * needs: the root, /sys, /dev, and those holding its working directory,
 * program, @outfile's directory, /tmp and /var/tmp), its own /proc, lo
 * up, a host name.  fail()s and returns -1 on error. */
int test_ns_setup(const char *outfile);
/* In PID 1: fork the test, which returns; PID 1 stays as the init and never
 * returns.  Closes *ready_fd in the init. */
void test_ns_init(int *ready_fd);

#endif
