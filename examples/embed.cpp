// Embedding libsimdiff in a C++ application with include/simdiff/simdiff.hpp
// (docs/embedding.md): the same steps as examples/embed.c — load, a thread
// budget, one seed per image, progress with previews, cancel from another
// thread past a deadline, RGBA8 pixels — with RAII handles and exceptions.
//
//   embed-cpp [MODEL]
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#include "simdiff/simdiff.hpp"

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "models/fmnist-uvit.safetensors";
    try {
        simdiff::model m = simdiff::model::load(path);
        simdiff_sampler_config cfg = m.stored_settings();
        cfg.num_threads = 2; // this sampler's budget; nothing else changes
        simdiff::sampler s(m, cfg);

        int previews = 0;
        s.on_progress(
            [&](int step, int total, const float *preview) {
                if (preview)
                    previews++;
                std::fprintf(stderr, "\rstep %d/%d", step, total);
                return false; // true would stop the run
            },
            4);

        std::atomic<bool> done(false);
        std::thread watchdog([&] {
            auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
            while (!done && std::chrono::steady_clock::now() < deadline)
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            if (!done)
                s.cancel(); // the run throws simdiff::error (SIMDIFF_ERR_CANCELLED)
        });
        const int labels[3] = {0, 7, 9};
        std::vector<float> x;
        try {
            x = s.run({42, 7, 42}, labels); // one seed per image
        } catch (...) {
            done = true;
            watchdog.join();
            throw;
        }
        done = true;
        watchdog.join();
        std::fprintf(stderr, "\n");

        simdiff::shape sh = m.shape();
        std::vector<std::uint8_t> rgba = simdiff::to_rgba8(x, 3, sh); // 3 x H x W x 4
        std::printf("3 images %dx%d, %d previews, schedule %s, first pixel RGBA %u %u %u %u\n",
                    sh.width, sh.height, previews, m.schedule_text().c_str(), rgba[0], rgba[1],
                    rgba[2], rgba[3]);
        return 0;
    } catch (const simdiff::error &e) {
        std::fprintf(stderr, "\nembed-cpp: %s (%s)\n", e.what(), simdiff_status_str(e.status()));
        return 1;
    }
}
