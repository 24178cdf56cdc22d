/* A tiny ARM program for the emulated-device tests: what a pushed binary sees on the device. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int cpuinfo(void) {
    /* Read the device's /proc/cpuinfo and /sys cpufreq through this program's own fopen. */
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    int processors = 0;
    if (!f) { perror("/proc/cpuinfo"); return 2; }
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "processor", 9) == 0) processors++;
        if (strncmp(line, "Hardware", 8) == 0) fputs(line, stdout);
    }
    fclose(f);
    printf("processors=%d\n", processors);
    for (int i = 0; i < processors; i++) {
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/cpufreq/cpuinfo_max_freq", i);
        FILE *g = fopen(path, "r");
        if (!g) { perror(path); return 3; }
        long khz = 0;
        if (fscanf(g, "%ld", &khz) != 1) return 4;
        fclose(g);
        printf("cpu%d=%ld\n", i, khz);
    }
    return 0;
}

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "cpuinfo";
    if (!strcmp(mode, "cpuinfo")) return cpuinfo();
    if (!strcmp(mode, "crash")) { volatile int *p = NULL; *p = 1; return 0; }
    if (!strcmp(mode, "abort")) abort();
    if (!strcmp(mode, "spin")) { for (;;) pause(); }
    if (!strcmp(mode, "yes")) { for (;;) if (puts("y") < 0) return 9; }
    if (!strcmp(mode, "env")) { const char *v = getenv(argc > 2 ? argv[2] : "PATH"); printf("%s\n", v ? v : "(unset)"); return 0; }
    if (!strcmp(mode, "cwd")) { FILE *f = fopen("here.txt", "w"); if (!f) return 5; fputs("written by probe\n", f); fclose(f); return 0; }
    if (!strcmp(mode, "stdin")) { int c, n = 0; while ((c = getchar()) != EOF) n++; printf("read=%d\n", n); return 0; }
    if (!strcmp(mode, "fill")) { FILE *f = fopen(argv[2], "wb"); long n = atol(argv[3]), w = 0; static char buf[65536]; if (!f) return 5; while (w < n && fwrite(buf, 1, sizeof buf, f) == sizeof buf) w += sizeof buf; int bad = fflush(f) != 0 || ferror(f); fclose(f); printf("wrote=%ld bad=%d\n", w, bad); return bad ? 6 : 0; }
    if (!strcmp(mode, "exit")) return atoi(argc > 2 ? argv[2] : "0");
    if (!strcmp(mode, "stderr")) { fprintf(stderr, "to stderr\n"); printf("to stdout\n"); return 1; }
    fprintf(stderr, "unknown mode %s\n", mode);
    return 64;
}
