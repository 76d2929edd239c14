/* cryo command line: a thin front end over libcryo. */
#include <stdio.h>
#include "cryo.h"

int main(int argc, char **argv)
{
	fprintf(stderr, "cryo: command line not built yet\n");
	return 1;
}
