// include/simdiff/simdiff.hpp, compiled as C++ and checked against the C
// API it wraps: the same bytes as simdiff_sampler_run, per-image seeds
// equal to runs of one, exceptions with the library's status and message,
// a progress callback that stops or throws, prompts through the built-in
// text encoder, and RGBA8 against the quantization rule computed here.
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "simdiff/simdiff.hpp"

static int failures = 0;
#define CHECK(c)                                                                               \
    do {                                                                                       \
        if (!(c)) {                                                                            \
            std::fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c);         \
            failures++;                                                                        \
        }                                                                                      \
    } while (0)

int main(int argc, char **argv)
{
    if (argc < 2) {
        std::fprintf(stderr, "usage: test-cxx-wrapper MODEL\n");
        return 2;
    }
    simdiff::model m = simdiff::model::load(argv[1]);
    simdiff::shape sh = m.shape();
    CHECK(sh.channels == 1 && sh.height == 32 && sh.width == 32);
    CHECK(m.num_classes() == 10);
    CHECK(m.schedule_text().find("(") != std::string::npos);
    CHECK(m.sampler_text().find("method=") == 0);

    simdiff_sampler_config cfg = m.stored_settings();
    cfg.steps = 2;
    cfg.num_threads = 1;
    simdiff::sampler s(m, cfg);
    const int labels[2] = {3, 5};
    std::vector<float> a = s.run(2, labels, 9);
    // the C API on a sampler of the same config
    simdiff_sampler *cs = nullptr;
    CHECK(simdiff_sampler_create(&cs, m.get(), &cfg) == SIMDIFF_OK);
    std::vector<float> b(2 * sh.floats());
    CHECK(simdiff_sampler_run(cs, 2, labels, 9, b.data()) == SIMDIFF_OK);
    CHECK(a == b);
    // per-image seeds: image j is a run of one with seeds[j]
    std::vector<float> p = s.run({9, 4}, labels);
    std::vector<float> one(sh.floats());
    CHECK(simdiff_sampler_run(cs, 1, labels + 1, 4, one.data()) == SIMDIFF_OK);
    CHECK(std::memcmp(p.data() + sh.floats(), one.data(), one.size() * sizeof(float)) == 0);
    CHECK(std::memcmp(p.data(), a.data(), sh.floats() * sizeof(float)) == 0);
    simdiff_sampler_destroy(cs);

    // errors carry the status and the message
    try {
        simdiff::model::load("/nonexistent/model.safetensors");
        CHECK(false);
    } catch (const simdiff::error &e) {
        CHECK(e.status() == SIMDIFF_ERR_IO);
        CHECK(std::strstr(e.what(), "/nonexistent/model.safetensors") != nullptr);
    }
    // a progress callback that stops, then one that throws
    int calls = 0;
    s.on_progress([&](int, int, const float *) { return ++calls == 1; });
    try {
        s.run(1, labels, 1);
        CHECK(false);
    } catch (const simdiff::error &e) {
        CHECK(e.status() == SIMDIFF_ERR_CANCELLED);
        CHECK(std::strstr(e.what(), "callback") != nullptr);
    }
    CHECK(calls == 1);
    s.on_progress([](int, int, const float *) -> bool { throw std::logic_error("from ui"); });
    try {
        s.run(1, labels, 1);
        CHECK(false);
    } catch (const std::logic_error &e) {
        CHECK(std::strcmp(e.what(), "from ui") == 0);
    }
    s.on_progress(nullptr);
    // sticky cancel: a cancel before the run is kept
    s.set_sticky_cancel(true);
    s.cancel();
    try {
        s.run(1, labels, 1);
        CHECK(false);
    } catch (const simdiff::error &e) {
        CHECK(e.status() == SIMDIFF_ERR_CANCELLED);
    }
    CHECK(s.run(1, labels, 1).size() == sh.floats());

    // prompts: refused by a model without a text encoder ...
    try {
        s.run(std::vector<std::string>{"cat face"}, 1);
        CHECK(false);
    } catch (const simdiff::error &e) {
        CHECK(e.status() == SIMDIFF_ERR_INVALID_ARG);
    }
    // ... and on a tiny one with the encoder, the same bytes as the C API
    {
        const std::vector<std::string> caps = {"a bright light", "dark night", "light"};
        int size = 0;
        std::string voc = simdiff::build_vocab(caps, 100, &size);
        CHECK(size == 2 + 5 && voc == "light\na\nbright\ndark\nnight\n");
        simdiff_model_config tc;
        CHECK(simdiff_model_config_init(&tc, SIMDIFF_ARCH_UVIT, 8, 1) == SIMDIFF_OK);
        tc.num_levels = 1;
        tc.level_channels[0] = 8;
        tc.level_blocks[0] = 1;
        tc.norm_groups = 4;
        tc.emb_dim = 16;
        tc.attn_resolution = 4;
        tc.tf_width = 16;
        tc.tf_depth = 1;
        tc.tf_heads = 2;
        tc.tf_mlp_ratio = 2;
        tc.dropout_max_resolution = 8;
        tc.ctx_dim = 8;
        tc.ctx_len = 4;
        tc.text_vocab = size;
        tc.text_layers = 1;
        tc.text_heads = 2;
        simdiff::model tm = simdiff::model::create(tc, 5);
        tm.set_vocab(voc);
        int words = 0;
        std::vector<int> ids = tm.tokenize("Bright light, zebra dark night", &words);
        CHECK(words == 5 && ids.size() == 4);
        CHECK(ids.size() == 4 && ids[0] == 4 && ids[1] == 2 && ids[2] == 1 && ids[3] == 5);
        simdiff_sampler_config sc;
        CHECK(simdiff_sampler_config_init(&sc) == SIMDIFF_OK);
        sc.steps = 2;
        sc.num_threads = 1;
        sc.guidance = 2.0;
        simdiff_schedule *sched = nullptr;
        CHECK(simdiff_schedule_create_shifted(&sched, 8, 64) == SIMDIFF_OK);
        sc.schedule = sched;
        simdiff::sampler ts(tm, sc);
        const std::vector<std::string> prompts = {"bright light", "", "dark night"};
        std::vector<float> x = ts.run(prompts, 3);
        const char *cp[3] = {"bright light", "", "dark night"};
        simdiff_run_options o;
        CHECK(simdiff_run_options_init(&o) == SIMDIFF_OK);
        o.prompts = cp;
        std::vector<float> y(3 * 8 * 8);
        CHECK(simdiff_sampler_run_with(ts.get(), 3, nullptr, 3, nullptr, &o, y.data()) ==
              SIMDIFF_OK);
        CHECK(x == y);
        CHECK(std::memcmp(x.data(), x.data() + 128, 64 * sizeof(float)) != 0);
        try {
            tm.set_vocab("only\n");
            CHECK(false);
        } catch (const simdiff::error &e) {
            CHECK(e.status() == SIMDIFF_ERR_FORMAT || e.status() == SIMDIFF_ERR_INVALID_ARG);
        }
        simdiff_schedule_destroy(sched); /* the sampler keeps its own copy */
    }

    // RGBA8: floor((v + 1) * 127.5 + 0.5), v clamped, gray to R = G = B
    simdiff::shape tiny{1, 1, 3};
    std::vector<float> v = {-2.0f, 0.25f, 1.0f};
    std::vector<std::uint8_t> px = simdiff::to_rgba8(v, 1, tiny);
    CHECK(px.size() == 12);
    const int want[3] = {0, (int)std::floor(1.25 * 127.5 + 0.5), 255};
    for (int i = 0; i < 3; i++) {
        CHECK(px[4 * i] == want[i] && px[4 * i + 1] == want[i] && px[4 * i + 2] == want[i]);
        CHECK(px[4 * i + 3] == 255);
    }
    CHECK(simdiff::to_rgba8(v, 1, tiny, false).size() == 9);
    if (failures)
        std::fprintf(stderr, "%d check(s) failed\n", failures);
    else
        std::printf("ok: the C++ wrapper agrees with the C API\n");
    return failures ? 1 : 0;
}
