/*
 * rng.c - the network's random generator: xoshiro256** (Blackman and Vigna), seeded through
 * splitmix64 so that any 64-bit seed gives a well-mixed state. Deterministic on every platform.
 */
#include "internal.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void cnn_rng_seed(cnn_rng *rng, uint64_t seed) {
    for (int i = 0; i < 4; i++) rng->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t cnn_rng_u64(cnn_rng *rng) {
    uint64_t *s = rng->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* A double in (0, 1] with 53 random bits: finite under a logarithm. */
static double open_unit(cnn_rng *rng) {
    return ((double)(cnn_rng_u64(rng) >> 11) + 1.0) * 0x1.0p-53;
}

float cnn_rng_uniform(cnn_rng *rng) { return (float)(cnn_rng_u64(rng) >> 40) * 0x1.0p-24f; }

/* Box-Muller in double: the radius and angle of a pair of normals (r cos a, r sin a). */
static void box_muller(cnn_rng *rng, double *r, double *a) {
    double u1 = open_unit(rng);
    double u2 = (double)(cnn_rng_u64(rng) >> 11) * 0x1.0p-53;
    *r = sqrt(-2.0 * log(u1));
    *a = 6.283185307179586 * u2;
}

float cnn_rng_normal(cnn_rng *rng) {
    double r, a;
    box_muller(rng, &r, &a);
    return (float)(r * cos(a));
}

/* Gamma(a, 1) by Marsaglia and Tsang (2000): for a >= 1, d = a - 1/3 and c = 1 / sqrt(9 d);
 * draw x normal, v = (1 + c x)^3 until v > 0 and log u < x^2 / 2 + d - d v + d log v, then
 * d v. For a < 1, Gamma(a + 1) u^(1/a) (their note 8). In double throughout. */
static double gamma_draw(cnn_rng *rng, double a) {
    if (a < 1.0) {
        double u = open_unit(rng);
        return gamma_draw(rng, a + 1.0) * pow(u, 1.0 / a);
    }
    double d = a - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = cnn_rng_normal(rng), v = 1.0 + c * x;
        if (v <= 0.0) continue;
        v = v * v * v;
        double u = open_unit(rng);
        if (log(u) < 0.5 * x * x + d - d * v + d * log(v)) return d * v;
    }
}

double cnn_rng_beta(cnn_rng *rng, double a, double b) {
    double x = gamma_draw(rng, a), y = gamma_draw(rng, b);
    /* Both underflow to 0 only for tiny shapes: split evenly rather than divide 0 by 0. */
    return x + y > 0.0 ? x / (x + y) : 0.5;
}

uint32_t cnn_rng_below(cnn_rng *rng, uint32_t n) {
    /* Lemire's multiply-shift with rejection: exactly uniform. */
    uint64_t m = (uint64_t)(uint32_t)(cnn_rng_u64(rng) >> 32) * n;
    uint32_t low = (uint32_t)m;
    if (low < n) {
        uint32_t threshold = (uint32_t)-n % n;
        while (low < threshold) {
            m = (uint64_t)(uint32_t)(cnn_rng_u64(rng) >> 32) * n;
            low = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

const char *const cnn_init_names[] = {"he_normal", "he_uniform", "xavier_normal",
                                      "xavier_uniform", "torch_default", NULL};

void cnn_init_weights(float *w, size_t n, int scheme, int fan_in, int fan_out, cnn_rng *rng) {
    double var;
    switch (scheme) {
    case CNN_INIT_HE_NORMAL:
    case CNN_INIT_HE_UNIFORM: var = 2.0 / fan_in; break;
    /* PyTorch's default for Conv and Linear weights, kaiming_uniform_(a=sqrt(5)):
     * U(-1/sqrt(fan_in), 1/sqrt(fan_in)), a variance of 1/(3 fan_in). */
    case CNN_INIT_TORCH_DEFAULT: var = 1.0 / (3.0 * fan_in); break;
    default: var = 2.0 / ((double)fan_in + fan_out); break;
    }
    int uniform = scheme == CNN_INIT_HE_UNIFORM || scheme == CNN_INIT_XAVIER_UNIFORM ||
                  scheme == CNN_INIT_TORCH_DEFAULT;
    float bound = (float)sqrt(3.0 * var), std = (float)sqrt(var);
    if (uniform) {
        for (size_t i = 0; i < n; i++) w[i] = (2.0f * cnn_rng_uniform(rng) - 1.0f) * bound;
        return;
    }
    /* Box-Muller gives two normals per pair of draws; use both (VGG has 138M weights). */
    size_t i = 0;
    for (; i + 1 < n; i += 2) {
        double r, a;
        box_muller(rng, &r, &a);
        w[i] = (float)(r * cos(a)) * std;
        w[i + 1] = (float)(r * sin(a)) * std;
    }
    if (i < n) w[i] = cnn_rng_normal(rng) * std;
}

uint64_t cnn_seed_mix(uint64_t a, uint64_t b) {
    uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}
