/* SPDX-License-Identifier: GPL-2.0-or-later */
/* measure RUNS CMD...: runs CMD RUNS times (output discarded) and prints
 * "wall_ms=MEDIAN cpu_ms=MEDIAN maxrss_kib=MAX". Small on purpose: a child's peak
 * RSS includes what it had before exec, so the parent must not be a big runtime. */
#include "config.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
	int runs = argc > 2 ? atoi(argv[1]) : 0;
	double *wall, *cpu;
	long maxrss = 0;

	if (runs < 1) {
		fprintf(stderr, "usage: measure RUNS CMD...\n");
		return 2;
	}
	wall = calloc((size_t)runs, sizeof(double));
	cpu = calloc((size_t)runs, sizeof(double));
	for (int i = 0; i < runs; i++) {
		double t0 = now_ms();
		struct rusage ru;
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			int null = open("/dev/null", O_WRONLY);

			dup2(null, 1);
			dup2(null, 2);
			execvp(argv[2], argv + 2);
			_exit(127);
		}
		if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "measure: %s failed\n", argv[2]);
			return 1;
		}
		wall[i] = now_ms() - t0;
		cpu[i] = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
			 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
		if (ru.ru_maxrss > maxrss)
			maxrss = ru.ru_maxrss;
	}
	qsort(wall, (size_t)runs, sizeof(double), cmp);
	qsort(cpu, (size_t)runs, sizeof(double), cmp);
	printf("wall_ms=%.1f cpu_ms=%.1f maxrss_kib=%ld\n", wall[runs / 2], cpu[runs / 2], maxrss);
	free(wall);
	free(cpu);
	return 0;
}
