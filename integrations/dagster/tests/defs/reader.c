/* Reads a file and writes a small "model": its size and a checksum of its bytes. */
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: reader INPUT OUTPUT\n");
        return 2;
    }
    FILE *in = fopen(argv[1], "rb");
    if (!in) {
        perror(argv[1]);
        return 1;
    }
    unsigned long size = 0, sum = 0;
    int c;
    while ((c = fgetc(in)) != EOF) {
        size++;
        sum = (sum * 31 + (unsigned long)c) % 1000000007UL;
    }
    fclose(in);
    FILE *out = fopen(argv[2], "wb");
    if (!out) {
        perror(argv[2]);
        return 1;
    }
    fprintf(out, "%lu %lu\n", size, sum);
    return fclose(out) == 0 ? 0 : 1;
}
