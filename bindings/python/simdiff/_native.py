"""The C library: finding and loading libsimdiff.so.0, the ctypes mirrors of
its public structs, and the prototypes of every exported function.

Nothing here is public API; the rest of the package calls ``LIB.<function>``.

Search order for the library (the first that exists wins):

1. the ``SIMDIFF_LIBRARY`` environment variable: a path to the shared
   library (when set, nothing else is tried);
2. next to this package: ``simdiff/libsimdiff.so.0`` (a wheel built with the
   ``bundle-library`` setting, or a copy placed there by hand);
3. the system loader path (``LD_LIBRARY_PATH``, ``ldconfig``, ``/usr/lib``):
   ``libsimdiff.so.0`` (``libsimdiff.0.dylib`` on macOS).
"""
import ctypes
import os
import sys
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_float,
                    c_int, c_int64, c_size_t, c_uint, c_uint8, c_uint64,
                    c_void_p)

# The C library major version these bindings speak, and the oldest minor.
ABI_MAJOR = 0
ABI_MIN_MINOR = 1

ENV_VAR = "SIMDIFF_LIBRARY"

if sys.platform == "darwin":
    _SONAMES = ("libsimdiff.0.dylib", "libsimdiff.dylib")
elif sys.platform == "win32":
    _SONAMES = ("simdiff-0.dll", "simdiff.dll", "libsimdiff-0.dll")
else:
    _SONAMES = ("libsimdiff.so.0",)


class LibraryNotFoundError(ImportError):
    """libsimdiff could not be found or loaded (raised by ``import simdiff``)."""


def _load():
    """Return (CDLL, path it was loaded from)."""
    tried = []
    env = os.environ.get(ENV_VAR)
    if env:
        try:
            return ctypes.CDLL(env), env
        except OSError as e:
            raise LibraryNotFoundError(
                "simdiff: cannot load the C library from %s=%r: %s\n"
                "Point %s at libsimdiff.so.0 (e.g. build/lib/libsimdiff.so.0 after "
                "'meson compile -C build'), or unset it to search next to the "
                "package and on the system loader path." % (ENV_VAR, env, e, ENV_VAR)
            ) from None
    here = os.path.dirname(os.path.abspath(__file__))
    for name in _SONAMES:
        p = os.path.join(here, name)
        if os.path.exists(p):
            try:
                return ctypes.CDLL(p), p
            except OSError as e:
                tried.append("%s: %s" % (p, e))
        else:
            tried.append("%s: no such file" % p)
    for name in _SONAMES:
        try:
            return ctypes.CDLL(name), name
        except OSError as e:
            tried.append("%s on the system loader path: %s" % (name, e))
    raise LibraryNotFoundError(
        "simdiff: the C library libsimdiff was not found. Tried:\n  - "
        + "\n  - ".join(tried)
        + "\nBuild it (meson setup build && meson compile -C build) and either "
        "set %s=/path/to/build/lib/libsimdiff.so.0, copy libsimdiff.so.0 next "
        "to the simdiff package (%s), or install it (meson install -C build; "
        "then ldconfig)." % (ENV_VAR, here))


# ---- structs (mirrors of include/simdiff/*.h; struct_size first) ---------

MAX_LEVELS = 8  # SIMDIFF_MAX_LEVELS


class ModelConfigStruct(Structure):
    """simdiff_model_config (model.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("arch", c_int),
        ("image_size", c_int),
        ("channels", c_int),
        ("stem", c_int),
        ("stem_param", c_int),
        ("num_levels", c_int),
        ("level_channels", c_int * MAX_LEVELS),
        ("level_blocks", c_int * MAX_LEVELS),
        ("norm_groups", c_int),
        ("emb_dim", c_int),
        ("attn_resolution", c_int),
        ("attn_heads", c_int),
        ("tf_width", c_int),
        ("tf_depth", c_int),
        ("tf_heads", c_int),
        ("tf_mlp_ratio", c_int),
        ("dropout_res", c_float),
        ("dropout_tf", c_float),
        ("dropout_max_resolution", c_int),
        ("num_classes", c_int),
        ("cond_dim", c_int),
        ("prediction", c_int),
        ("ctx_dim", c_int),
        ("ctx_len", c_int),
        ("text_vocab", c_int),
        ("text_layers", c_int),
        ("text_heads", c_int),
        ("wiener_skip", c_int),
    ]


class OptimizerConfigStruct(Structure):
    """simdiff_optimizer_config (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("lr", c_double),
        ("beta1", c_double),
        ("beta2", c_double),
        ("eps", c_double),
        ("weight_decay", c_double),
        ("warmup_steps", c_int64),
        ("decay", c_int),
        ("total_steps", c_int64),
        ("min_lr_ratio", c_double),
        ("clip_norm", c_double),
        ("ema_decay", c_double),
    ]


class TrainerConfigStruct(Structure):
    """simdiff_trainer_config (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("loss", c_int),
        ("multiscale_base", c_int),
        ("label_dropout", c_double),
        ("stratified_t", c_int),
        ("seed", c_uint64),
        ("precision", c_int),
        ("num_threads", c_int),
        ("ctx_dropout", c_double),
    ]


class TrainerStatsStruct(Structure):
    """simdiff_trainer_stats (train.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("step", c_int64),
        ("skipped", c_int64),
        ("last_loss", c_double),
        ("last_grad_norm", c_double),
        ("lr", c_double),
    ]


class DistillConfigStruct(Structure):
    """simdiff_distill_config (distill.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("teacher_steps", c_int),
        ("guidance", c_double),
        ("seed", c_uint64),
        ("precision", c_int),
        ("num_threads", c_int),
        ("weighting", c_int),
    ]


class DistillStatsStruct(Structure):
    """simdiff_distill_stats (distill.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("round", c_int),
        ("teacher_steps", c_int),
        ("student_steps", c_int),
        ("guidance", c_double),
        ("step", c_int64),
        ("skipped", c_int64),
        ("total_steps", c_int64),
        ("last_loss", c_double),
        ("lr", c_double),
    ]


class DistillInfoStruct(Structure):
    """simdiff_distill_info (model.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("distilled", c_int),
        ("steps", c_int),
        ("teacher_steps", c_int),
        ("rounds", c_int),
        ("guidance", c_double),
    ]


class SamplerConfigStruct(Structure):
    """simdiff_sampler_config (sampler.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("method", c_int),
        ("steps", c_int),
        ("eta", c_double),
        ("guidance", c_double),
        ("clip_x", c_int),
        ("spacing", c_int),
        ("schedule", c_void_p),
        ("batch_chunk", c_int),
        ("precision", c_int),
        ("num_threads", c_int),
        ("guidance_interval", c_int),
        ("guidance_logsnr_min", c_double),
        ("guidance_logsnr_max", c_double),
    ]


class EditStruct(Structure):
    """simdiff_edit (sampler.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("init", POINTER(c_float)),
        ("init_count", c_int),
        ("channels", c_int),
        ("height", c_int),
        ("width", c_int),
        ("strength", c_double),
        ("mask", POINTER(c_float)),
        ("mask_count", c_int),
        ("mask_channels", c_int),
        ("resample", c_int),
        ("resample_jump", c_int),
    ]


class RunOptionsStruct(Structure):
    """simdiff_run_options (sampler.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("seeds", POINTER(c_uint64)),
        ("first_index", c_uint64),
        ("variation_strength", c_double),
        ("variation_seed", c_uint64),
        ("variation_seeds", POINTER(c_uint64)),
        ("latents", POINTER(c_float)),
        ("cond", POINTER(c_float)),
        ("context", POINTER(c_float)),
        ("context_len", POINTER(c_int)),
        ("prompts", POINTER(c_char_p)),
    ]


class ImageFolderConfigStruct(Structure):
    """simdiff_image_folder_config (io.h)."""
    _fields_ = [
        ("struct_size", c_size_t),
        ("size", c_int),
        ("channels", c_int),
        ("background", c_uint),
        ("on_bad_image", c_int),
        ("max_image_pixels", c_int64),
        ("max_file_bytes", c_int64),
    ]


STRUCTS = {
    "simdiff_model_config": ModelConfigStruct,
    "simdiff_optimizer_config": OptimizerConfigStruct,
    "simdiff_trainer_config": TrainerConfigStruct,
    "simdiff_trainer_stats": TrainerStatsStruct,
    "simdiff_distill_config": DistillConfigStruct,
    "simdiff_distill_stats": DistillStatsStruct,
    "simdiff_distill_info": DistillInfoStruct,
    "simdiff_sampler_config": SamplerConfigStruct,
    "simdiff_image_folder_config": ImageFolderConfigStruct,
    "simdiff_edit": EditStruct,
    "simdiff_run_options": RunOptionsStruct,
}

# int (*)(void *user, int step, int total, const float *x_preview)
PROGRESS_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_int, c_int, POINTER(c_float))

# ---- prototypes ------------------------------------------------------------

_st = c_int  # simdiff_status
_h = c_void_p  # any opaque handle
_hp = POINTER(c_void_p)  # simdiff_<noun> **out
_fp = POINTER(c_float)
_dp = POINTER(c_double)
_ip = POINTER(c_int)
_i64p = POINTER(c_int64)
_u8p = POINTER(c_uint8)
_path = c_char_p

_PROTOTYPES = {
    # core.h
    "simdiff_version": (c_char_p, []),
    "simdiff_version_number": (c_uint, []),
    "simdiff_status_str": (c_char_p, [c_int]),
    "simdiff_last_error": (c_char_p, []),
    "simdiff_set_num_threads": (_st, [c_int]),
    "simdiff_get_num_threads": (c_int, []),
    "simdiff_set_adaptive_threads": (_st, [c_int]),
    "simdiff_get_adaptive_threads": (c_int, []),
    "simdiff_runtime_info": (c_char_p, []),
    # schedule.h
    "simdiff_schedule_create_cosine": (_st, [_hp, c_double, c_double]),
    "simdiff_schedule_create_shifted": (_st, [_hp, c_int, c_int]),
    "simdiff_schedule_create_interpolated": (_st, [_hp, c_int, c_int, c_int]),
    "simdiff_schedule_clone": (_st, [_hp, _h]),
    "simdiff_schedule_destroy": (None, [_h]),
    "simdiff_schedule_errmsg": (c_char_p, [_h]),
    "simdiff_schedule_logsnr": (_st, [_h, c_size_t, _dp, _dp]),
    "simdiff_schedule_alpha_sigma": (_st, [_h, c_size_t, _dp, _dp, _dp]),
    "simdiff_schedule_t_from_logsnr": (_st, [_h, c_size_t, _dp, _dp]),
    "simdiff_alpha_sigma_from_logsnr": (_st, [c_size_t, _dp, _dp, _dp]),
    "simdiff_schedule_get_kind": (_st, [_h, _ip]),
    "simdiff_schedule_get_cosine_range": (_st, [_h, _dp, _dp]),
    "simdiff_schedule_get_resolutions": (_st, [_h, _ip, _ip, _ip]),
    "simdiff_schedule_get_shifts": (_st, [_h, _dp, _dp]),
    "simdiff_schedule_describe": (_st, [_h, POINTER(c_char), c_size_t]),
    "simdiff_schedule_to_string": (_st, [_h, POINTER(c_char), c_size_t]),
    "simdiff_schedule_from_string": (_st, [_hp, c_char_p]),
    "simdiff_v_to_x_eps": (_st, [c_size_t, c_size_t, _fp, _fp, _dp, _dp, _fp, _fp]),
    "simdiff_eps_to_x": (_st, [c_size_t, c_size_t, _fp, _fp, _dp, _dp, _fp]),
    "simdiff_x_to_eps": (_st, [c_size_t, c_size_t, _fp, _fp, _dp, _dp, _fp]),
    "simdiff_x_eps_to_v": (_st, [c_size_t, c_size_t, _fp, _fp, _dp, _dp, _fp]),
    "simdiff_x_eps_to_z": (_st, [c_size_t, c_size_t, _fp, _fp, _dp, _dp, _fp]),
    # io.h
    "simdiff_write_png": (_st, [_path, c_int, c_int, c_int, c_int, _fp, c_int]),
    "simdiff_write_png_u8": (_st, [_path, c_int, c_int, c_int, _u8p]),
    "simdiff_images_to_rgb8": (_st, [c_int, c_int, c_int, c_int, _fp, c_int, _u8p]),
    "simdiff_write_npy_f32": (_st, [_path, c_int, _i64p, _fp]),
    "simdiff_write_npy_u8": (_st, [_path, c_int, _i64p, _u8p]),
    "simdiff_dataset_open_idx": (_st, [_hp, _path, _path]),
    "simdiff_dataset_open_npy": (_st, [_hp, _path, _path, c_int, c_int]),
    "simdiff_dataset_destroy": (None, [_h]),
    "simdiff_dataset_errmsg": (c_char_p, [_h]),
    "simdiff_dataset_count": (c_int64, [_h]),
    "simdiff_dataset_channels": (c_int, [_h]),
    "simdiff_dataset_height": (c_int, [_h]),
    "simdiff_dataset_width": (c_int, [_h]),
    "simdiff_dataset_num_classes": (c_int, [_h]),
    "simdiff_dataset_get_batch": (_st, [_h, c_int, _i64p, c_int, _u8p, _fp, _ip]),
    "simdiff_dataset_shuffle": (_st, [_h, c_uint64, c_uint64, _i64p]),
    "simdiff_dataset_flip_mask": (_st, [c_uint64, c_uint64, c_int, _i64p, _u8p]),
    "simdiff_image_folder_config_init_sized": (_st, [POINTER(ImageFolderConfigStruct),
                                                     c_size_t]),
    "simdiff_dataset_open_folder": (_st, [_hp, _path, POINTER(ImageFolderConfigStruct)]),
    "simdiff_dataset_class_name": (c_char_p, [_h, c_int]),
    "simdiff_dataset_class_id": (c_int, [_h, c_char_p]),
    "simdiff_dataset_skipped_count": (c_int64, [_h]),
    "simdiff_dataset_skipped_message": (c_char_p, [_h, c_int64]),
    # model.h
    "simdiff_model_config_init_sized": (_st, [POINTER(ModelConfigStruct), c_size_t,
                                              c_int, c_int, c_int]),
    "simdiff_model_config_validate": (_st, [POINTER(ModelConfigStruct), POINTER(c_char), c_size_t]),
    "simdiff_model_create": (_st, [_hp, POINTER(ModelConfigStruct), c_uint64]),
    "simdiff_model_load": (_st, [_hp, _path]),
    "simdiff_model_save_safetensors": (_st, [_h, _path]),
    "simdiff_model_save_safetensors_f16": (_st, [_h, _path]),
    "simdiff_model_set_schedule": (_st, [_h, _h]),
    "simdiff_model_destroy": (None, [_h]),
    "simdiff_model_num_params": (c_int64, [_h]),
    "simdiff_model_get_config": (_st, [_h, POINTER(ModelConfigStruct)]),
    "simdiff_model_forward": (_st, [_h, c_int, _fp, _dp, _ip, _fp]),
    "simdiff_model_set_precision": (_st, [_h, c_int]),
    "simdiff_precision_check": (_st, [c_int]),
    "simdiff_model_forward_cond": (_st, [_h, c_int, _fp, _dp, _ip, _fp, _fp]),
    "simdiff_model_forward_ctx": (_st, [_h, c_int, _fp, _dp, _ip, _fp, _fp, _ip, _fp]),
    # text.h
    "simdiff_text_vocab_build": (_st, [POINTER(c_char_p), c_int, c_int, POINTER(c_char),
                                       c_size_t, POINTER(c_size_t), POINTER(c_int)]),
    "simdiff_model_set_vocab": (_st, [_h, c_char_p]),
    "simdiff_model_vocab_size": (c_int, [_h]),
    "simdiff_model_vocab_word": (c_char_p, [_h, c_int]),
    "simdiff_model_tokenize": (_st, [_h, c_char_p, _ip, c_int, POINTER(c_int)]),
    "simdiff_model_forward_text": (_st, [_h, c_int, _fp, _dp, _ip, _fp, POINTER(c_char_p),
                                         _fp]),
    "simdiff_model_flops": (_st, [_h, _dp]),
    "simdiff_model_fit_skip": (_st, [_h, c_int, _fp]),
    "simdiff_model_train_memory": (_st, [_h, c_int, POINTER(c_size_t)]),
    "simdiff_model_errmsg": (c_char_p, [_h]),
    "simdiff_model_image_shape": (_st, [_h, _ip, _ip, _ip]),
    "simdiff_model_schedule_text": (_st, [_h, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "simdiff_model_distill_info": (_st, [_h, POINTER(DistillInfoStruct)]),
    # train.h
    "simdiff_optimizer_config_init_sized": (_st, [POINTER(OptimizerConfigStruct), c_size_t]),
    "simdiff_optimizer_lr": (c_double, [_h]),
    "simdiff_optimizer_step_count": (c_int64, [_h]),
    "simdiff_optimizer_swap_ema": (_st, [_h]),
    "simdiff_optimizer_errmsg": (c_char_p, [_h]),
    "simdiff_trainer_config_init_sized": (_st, [POINTER(TrainerConfigStruct), c_size_t]),
    "simdiff_trainer_create": (_st, [_hp, _h, _h, POINTER(TrainerConfigStruct),
                                     POINTER(OptimizerConfigStruct)]),
    "simdiff_trainer_destroy": (None, [_h]),
    "simdiff_trainer_step": (_st, [_h, c_int, _fp, _ip, _dp]),
    "simdiff_trainer_step_cond": (_st, [_h, c_int, _fp, _ip, _fp, _dp]),
    "simdiff_trainer_step_ctx": (_st, [_h, c_int, _fp, _ip, _fp, _fp, _ip, _dp]),
    "simdiff_trainer_step_text": (_st, [_h, c_int, _fp, _ip, _fp, POINTER(c_char_p), _dp]),
    "simdiff_trainer_stats_get": (_st, [_h, POINTER(TrainerStatsStruct)]),
    "simdiff_trainer_optimizer": (c_void_p, [_h]),
    "simdiff_trainer_save": (_st, [_h, _path]),
    "simdiff_trainer_load": (_st, [_hp, _hp, _path]),
    "simdiff_trainer_export": (_st, [_h, _path, c_int]),
    "simdiff_trainer_errmsg": (c_char_p, [_h]),
    # distill.h
    "simdiff_distill_config_init_sized": (_st, [POINTER(DistillConfigStruct), c_size_t]),
    "simdiff_distiller_create": (_st, [_hp, _h, _h, POINTER(DistillConfigStruct),
                                       POINTER(OptimizerConfigStruct)]),
    "simdiff_distiller_destroy": (None, [_h]),
    "simdiff_distiller_step": (_st, [_h, c_int, _fp, _ip, _dp]),
    "simdiff_distiller_next_round": (_st, [_h]),
    "simdiff_distiller_stats_get": (_st, [_h, POINTER(DistillStatsStruct)]),
    "simdiff_distiller_optimizer": (c_void_p, [_h]),
    "simdiff_distiller_save": (_st, [_h, _path]),
    "simdiff_distiller_load": (_st, [_hp, _hp, _path]),
    "simdiff_distiller_export": (_st, [_h, _path, c_int]),
    "simdiff_distiller_errmsg": (c_char_p, [_h]),
    # sampler.h
    "simdiff_sampler_config_init_sized": (_st, [POINTER(SamplerConfigStruct), c_size_t]),
    "simdiff_sampler_config_init_for_model_sized": (_st, [POINTER(SamplerConfigStruct),
                                                          c_size_t, _h]),
    "simdiff_sampler_set_model_defaults": (_st, [_h, POINTER(SamplerConfigStruct)]),
    "simdiff_sampler_create": (_st, [_hp, _h, POINTER(SamplerConfigStruct)]),
    "simdiff_sampler_run": (_st, [_h, c_int, _ip, c_uint64, _fp]),
    "simdiff_edit_init_sized": (_st, [POINTER(EditStruct), c_size_t]),
    "simdiff_sampler_run_edit": (_st, [_h, c_int, _ip, c_uint64, POINTER(EditStruct), _fp]),
    "simdiff_sampler_edit_evals": (_st, [_h, POINTER(EditStruct), POINTER(c_int)]),
    "simdiff_run_options_init_sized": (_st, [POINTER(RunOptionsStruct), c_size_t]),
    "simdiff_sampler_run_with": (_st, [_h, c_int, _ip, c_uint64, POINTER(EditStruct),
                                       POINTER(RunOptionsStruct), _fp]),
    "simdiff_sampler_initial_noise": (_st, [_h, c_int, c_uint64, POINTER(RunOptionsStruct),
                                            _fp]),
    "simdiff_sampler_set_sticky_cancel": (_st, [_h, c_int]),
    "simdiff_model_sampler_text": (_st, [_h, POINTER(c_char), c_size_t, POINTER(c_size_t)]),
    "simdiff_sampler_cancel": (None, [_h]),
    "simdiff_sampler_destroy": (None, [_h]),
    "simdiff_sampler_set_progress": (_st, [_h, PROGRESS_FN, c_void_p]),
    "simdiff_sampler_set_preview_every": (_st, [_h, c_int]),
    "simdiff_sampler_errmsg": (c_char_p, [_h]),
}
# The names of the enums (core.h, model.h, train.h, sampler.h, schedule.h, io.h):
# simdiff_<enum>_name(value) and simdiff_<enum>_from_name(name, &value).
ENUM_NAMES = ("arch", "stem", "prediction", "loss", "lr_decay", "sampler_method",
              "spacing", "schedule_kind", "layout", "float_range", "precision", "image_channels", "bad_image",
              "distill_weighting")
for _e in ENUM_NAMES:
    _PROTOTYPES["simdiff_%s_name" % _e] = (c_char_p, [c_int])
    _PROTOTYPES["simdiff_%s_from_name" % _e] = (_st, [c_char_p, _ip])


def _bind(lib, path):
    missing = []
    for name, (restype, argtypes) in _PROTOTYPES.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise LibraryNotFoundError(
            "simdiff: %s lacks %d function(s) these bindings need (%s): the "
            "library is older than the bindings; rebuild it or point %s at a "
            "newer one" % (path, len(missing), ", ".join(missing[:5])
                           + (", ..." if len(missing) > 5 else ""), ENV_VAR))
    v = lib.simdiff_version_number()
    major, minor = (v >> 16) & 0xFF, (v >> 8) & 0xFF
    if major != ABI_MAJOR or minor < ABI_MIN_MINOR:
        raise LibraryNotFoundError(
            "simdiff: %s is version %d.%d.%d; these bindings need %d.x with "
            "x >= %d" % (path, major, minor, v & 0xFF, ABI_MAJOR, ABI_MIN_MINOR))


def _check_struct_sizes(lib, path):
    """Every struct crosses into C with its ctypes size as struct_size (the
    library reads and writes exactly that many bytes; docs/api.md, "Structs
    that grow"). Check that this library accepts each mirror's size and
    writes nothing past it, so a mirror smaller than the library's first
    layout is an ImportError instead of a failure later."""
    probes = [
        (ModelConfigStruct, lambda p, n: lib.simdiff_model_config_init_sized(p, n, 2, 32, 1)),
        (OptimizerConfigStruct, lib.simdiff_optimizer_config_init_sized),
        (TrainerConfigStruct, lib.simdiff_trainer_config_init_sized),
        (DistillConfigStruct, lib.simdiff_distill_config_init_sized),
        (SamplerConfigStruct, lib.simdiff_sampler_config_init_sized),
        (ImageFolderConfigStruct, lib.simdiff_image_folder_config_init_sized),
        (EditStruct, lib.simdiff_edit_init_sized),
        (RunOptionsStruct, lib.simdiff_run_options_init_sized),
    ]
    guard = 64
    for cls, init in probes:
        n = ctypes.sizeof(cls)
        buf = ctypes.create_string_buffer(b"\xa5" * (n + guard), n + guard)
        if init(ctypes.cast(buf, POINTER(cls)), n) != 0:
            raise LibraryNotFoundError(
                "simdiff: %s refuses the %d-byte %s of these bindings: %s"
                % (path, n, cls.__doc__,
                   lib.simdiff_last_error().decode("utf-8", "replace")))
        if c_size_t.from_buffer(buf).value != n or buf.raw[n:] != b"\xa5" * guard:
            raise LibraryNotFoundError(
                "simdiff: %s does not fill a %s of exactly the size it is given: "
                "the bindings do not match this library build" % (path, cls.__doc__))


LIB, LIBRARY_PATH = _load()
_bind(LIB, LIBRARY_PATH)
_check_struct_sizes(LIB, LIBRARY_PATH)


def last_error():
    """simdiff_last_error() as str."""
    return LIB.simdiff_last_error().decode("utf-8", "replace")
