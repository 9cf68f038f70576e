/*
 * libsimdiff — a header-only C++11 wrapper of the C API for embedding:
 * RAII handles (no manual destroy), exceptions carrying the status and the
 * handle's message, std::vector buffers and std::function callbacks.
 * Everything here calls the C functions of simdiff.h and adds nothing to
 * the library's ABI. docs/embedding.md has a complete example.
 *
 *   simdiff::model m = simdiff::model::load("models/fmnist-uvit.safetensors");
 *   simdiff_sampler_config cfg = m.stored_settings();
 *   cfg.num_threads = 2;
 *   simdiff::sampler s(m, cfg);
 *   s.on_progress([](int step, int total, const float *preview) { return false; });
 *   std::vector<float> x = s.run(4, labels, 7);        // 4 x C x H x W
 *   std::vector<uint8_t> rgba = simdiff::to_rgba8(x, 4, m.shape());
 */
#ifndef SIMDIFF_SIMDIFF_HPP
#define SIMDIFF_SIMDIFF_HPP

#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "simdiff/simdiff.h"

namespace simdiff {

/* A failed call: what() is the library's message, status() its code. */
class error : public std::runtime_error {
public:
    error(simdiff_status st, const std::string &msg)
        : std::runtime_error(msg), status_(st) {}
    simdiff_status status() const { return status_; }

private:
    simdiff_status status_;
};

/* Throw on a failed status with msg (the handle's message, or the thread's
 * last error when msg is null or empty). */
inline void check(simdiff_status st, const char *msg = nullptr)
{
    if (st == SIMDIFF_OK)
        return;
    std::string m = msg && *msg ? msg : simdiff_last_error();
    throw error(st, m.empty() ? simdiff_status_str(st) : m);
}

/* The shape of one image. */
struct shape {
    int channels, height, width;
    std::size_t floats() const
    {
        return static_cast<std::size_t>(channels) * static_cast<std::size_t>(height) *
               static_cast<std::size_t>(width);
    }
};

class model {
public:
    static model load(const std::string &path)
    {
        simdiff_model *m = nullptr;
        check(simdiff_model_load(&m, path.c_str()));
        return model(m);
    }
    /* A model with fresh weights (simdiff_model_create). */
    static model create(const simdiff_model_config &cfg, std::uint64_t seed)
    {
        simdiff_model *m = nullptr;
        check(simdiff_model_create(&m, &cfg, seed));
        return model(m);
    }
    simdiff_model *get() const { return m_.get(); }
    simdiff_model_config config() const
    {
        simdiff_model_config c;
        c.struct_size = sizeof c;
        check(simdiff_model_get_config(get(), &c), simdiff_model_errmsg(get()));
        return c;
    }
    /* The built-in text encoder (text.h): give the model a vocabulary made
     * by build_vocab, and tokenize a prompt with it (at most ctx_len ids;
     * *words, when given, is the prompt's word count before truncation). */
    void set_vocab(const std::string &vocab)
    {
        check(simdiff_model_set_vocab(get(), vocab.c_str()), simdiff_model_errmsg(get()));
    }
    std::vector<int> tokenize(const std::string &prompt, int *words = nullptr) const
    {
        std::vector<int> ids(static_cast<std::size_t>(config().ctx_len));
        int n = 0;
        check(simdiff_model_tokenize(get(), prompt.c_str(), ids.data(),
                                     static_cast<int>(ids.size()), &n),
              simdiff_model_errmsg(get()));
        if (words)
            *words = n;
        ids.resize(n < static_cast<int>(ids.size()) ? static_cast<std::size_t>(n) : ids.size());
        return ids;
    }
    simdiff::shape shape() const
    {
        simdiff::shape s{0, 0, 0};
        check(simdiff_model_image_shape(get(), &s.channels, &s.height, &s.width));
        return s;
    }
    int num_classes() const { return config().num_classes; }
    std::string schedule_text() const
    {
        char buf[SIMDIFF_SCHEDULE_STRING_MAX];
        check(simdiff_model_schedule_text(get(), buf, sizeof buf, nullptr));
        return buf;
    }
    std::string sampler_text() const
    {
        char buf[256];
        check(simdiff_model_sampler_text(get(), buf, sizeof buf, nullptr));
        return buf;
    }
    /* The sampler settings stored with the model (library defaults where
     * none are stored): a config to change and pass to sampler. */
    simdiff_sampler_config stored_settings() const
    {
        simdiff_sampler_config c;
        check(simdiff_sampler_config_init_for_model(&c, get()));
        return c;
    }

private:
    explicit model(simdiff_model *m) : m_(m, simdiff_model_destroy) {}
    std::shared_ptr<simdiff_model> m_; /* shared: samplers keep it alive */
    friend class sampler;
};

/* Progress: return true to stop the run (it throws error with
 * SIMDIFF_ERR_CANCELLED). preview is null or n x C x H x W floats, valid
 * during the call. */
typedef std::function<bool(int step, int total, const float *preview)> progress_fn;

class sampler {
public:
    /* A sampler with the model's stored settings. */
    explicit sampler(const model &m) : sampler(m, m.stored_settings()) {}
    sampler(const model &m, const simdiff_sampler_config &cfg)
        : model_(m.m_), state_(new state)
    {
        simdiff_sampler *s = nullptr;
        check(simdiff_sampler_create(&s, model_.get(), &cfg));
        s_.reset(s);
        shape_ = m.shape();
        check(simdiff_sampler_set_progress(s, &sampler::trampoline, state_.get()),
              simdiff_sampler_errmsg(s));
    }
    simdiff_sampler *get() const { return s_.get(); }

    void on_progress(progress_fn fn, int preview_every = 0)
    {
        check(simdiff_sampler_set_preview_every(get(), preview_every),
              simdiff_sampler_errmsg(get()));
        state_->fn = std::move(fn);
    }
    /* From any thread; see simdiff_sampler_cancel. */
    void cancel() { simdiff_sampler_cancel(get()); }
    void set_sticky_cancel(bool on)
    {
        check(simdiff_sampler_set_sticky_cancel(get(), on ? 1 : 0), simdiff_sampler_errmsg(get()));
    }

    /* n images (n x C x H x W floats in [−1, 1]); labels: null or n ids. */
    std::vector<float> run(int n, const int *labels, std::uint64_t seed,
                           const simdiff_run_options *opts = nullptr,
                           const simdiff_edit *edit = nullptr)
    {
        std::vector<float> out(static_cast<std::size_t>(n > 0 ? n : 0) * shape_.floats());
        state_->exc = nullptr;
        simdiff_status st =
            simdiff_sampler_run_with(get(), n, labels, seed, edit, opts, out.data());
        if (state_->exc) { /* an exception from the progress callback */
            std::exception_ptr e = state_->exc;
            state_->exc = nullptr;
            std::rethrow_exception(e);
        }
        check(st, simdiff_sampler_errmsg(get()));
        return out;
    }
    /* One seed per image: image j is image 0 of a run with seeds[j]. */
    std::vector<float> run(const std::vector<std::uint64_t> &seeds, const int *labels)
    {
        simdiff_run_options o;
        check(simdiff_run_options_init(&o));
        o.seeds = seeds.data();
        return run(static_cast<int>(seeds.size()), labels, 0, &o);
    }

    /* One image per prompt (a model with the built-in text encoder; "" is
     * the null context); opts, when given, supplies the other options. */
    std::vector<float> run(const std::vector<std::string> &prompts, std::uint64_t seed,
                           const int *labels = nullptr, const simdiff_run_options *opts = nullptr)
    {
        simdiff_run_options o;
        if (opts)
            o = *opts;
        else
            check(simdiff_run_options_init(&o));
        std::vector<const char *> p(prompts.size());
        for (std::size_t i = 0; i < prompts.size(); i++)
            p[i] = prompts[i].c_str();
        o.prompts = p.data();
        return run(static_cast<int>(prompts.size()), labels, seed, &o);
    }

private:
    struct state {
        progress_fn fn;
        std::exception_ptr exc;
    };
    static int trampoline(void *user, int step, int total, const float *x)
    {
        state *st = static_cast<state *>(user);
        if (!st->fn)
            return 0;
        try { /* nothing may unwind through the C library */
            return st->fn(step, total, x) ? 1 : 0;
        } catch (...) {
            st->exc = std::current_exception();
            return 1;
        }
    }
    struct destroy {
        void operator()(simdiff_sampler *s) const { simdiff_sampler_destroy(s); }
    };
    std::shared_ptr<simdiff_model> model_; /* outlives s_ (declared first) */
    std::unique_ptr<state> state_;
    std::unique_ptr<simdiff_sampler, destroy> s_;
    simdiff::shape shape_{0, 0, 0};
};

/* A vocabulary for the built-in text encoder from training captions
 * (simdiff_text_vocab_build): its text form, for model::set_vocab; *size
 * (when given) is the id count to put in simdiff_model_config.text_vocab. */
inline std::string build_vocab(const std::vector<std::string> &captions, int max_size,
                               int *size = nullptr)
{
    std::vector<const char *> c(captions.size());
    for (std::size_t i = 0; i < captions.size(); i++)
        c[i] = captions[i].c_str();
    std::size_t len = 0;
    int n = 0;
    check(simdiff_text_vocab_build(c.data(), static_cast<int>(c.size()), max_size, nullptr, 0,
                                   &len, &n));
    std::string buf(len + 1, '\0');
    check(simdiff_text_vocab_build(c.data(), static_cast<int>(c.size()), max_size, &buf[0],
                                   buf.size(), &len, &n));
    buf.resize(len);
    if (size)
        *size = n;
    return buf;
}

/* n images of shape s as RGBA8 (alpha: true) or RGB8 pixels, n x H x W x 4
 * (or 3) bytes; simdiff_images_to_rgb8. */
inline std::vector<std::uint8_t> to_rgba8(const std::vector<float> &x, int n, const shape &s,
                                          bool alpha = true)
{
    const int k = alpha ? 4 : 3;
    if (x.size() < static_cast<std::size_t>(n > 0 ? n : 0) * s.floats())
        throw error(SIMDIFF_ERR_INVALID_ARG, "simdiff::to_rgba8: fewer floats than n images");
    std::vector<std::uint8_t> out(static_cast<std::size_t>(n > 0 ? n : 0) *
                                  static_cast<std::size_t>(s.height) *
                                  static_cast<std::size_t>(s.width) * k);
    check(simdiff_images_to_rgb8(n, s.channels, s.height, s.width, x.data(), k, out.data()));
    return out;
}

} // namespace simdiff

#endif /* SIMDIFF_SIMDIFF_HPP */
