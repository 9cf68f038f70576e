"""The ctypes mirrors of the C structs: sizes, offsets and defaults.

Three independent checks: (1) the layout the headers imply on an LP64
platform, written out by hand below; (2) the library itself: the
_config_init_sized functions write exactly the ctypes size and set
struct_size to it, and the create/validate/get functions refuse a struct_size
below the first released layout and accept a larger one only with zero bytes
past the fields they know; (3) offsetof/sizeof printed by a C program
compiled from the headers (test_c_reference.py)."""
import ctypes
import struct
import unittest

import simdiff
from simdiff import _native

# (field, offset, size) from include/simdiff/*.h for LP64 (size_t = 8,
# int / enum = 4, int64_t / double / pointers = 8), and the sizeof.
LP64 = {
    "simdiff_model_config": (176, [
        ("struct_size", 0, 8), ("arch", 8, 4), ("image_size", 12, 4),
        ("channels", 16, 4), ("stem", 20, 4), ("stem_param", 24, 4),
        ("num_levels", 28, 4), ("level_channels", 32, 32), ("level_blocks", 64, 32),
        ("norm_groups", 96, 4), ("emb_dim", 100, 4), ("attn_resolution", 104, 4),
        ("attn_heads", 108, 4), ("tf_width", 112, 4), ("tf_depth", 116, 4),
        ("tf_heads", 120, 4), ("tf_mlp_ratio", 124, 4), ("dropout_res", 128, 4),
        ("dropout_tf", 132, 4), ("dropout_max_resolution", 136, 4),
        ("num_classes", 140, 4), ("cond_dim", 144, 4), ("prediction", 148, 4),
        ("ctx_dim", 152, 4), ("ctx_len", 156, 4), ("text_vocab", 160, 4),
        ("text_layers", 164, 4), ("text_heads", 168, 4),
        ("wiener_skip", 172, 4)]),
    "simdiff_optimizer_config": (96, [
        ("struct_size", 0, 8), ("lr", 8, 8), ("beta1", 16, 8), ("beta2", 24, 8),
        ("eps", 32, 8), ("weight_decay", 40, 8), ("warmup_steps", 48, 8),
        ("decay", 56, 4), ("total_steps", 64, 8), ("min_lr_ratio", 72, 8),
        ("clip_norm", 80, 8), ("ema_decay", 88, 8)]),
    "simdiff_trainer_config": (56, [
        ("struct_size", 0, 8), ("loss", 8, 4), ("multiscale_base", 12, 4),
        ("label_dropout", 16, 8), ("stratified_t", 24, 4), ("seed", 32, 8),
        ("precision", 40, 4), ("num_threads", 44, 4), ("ctx_dropout", 48, 8)]),
    "simdiff_trainer_stats": (48, [
        ("struct_size", 0, 8), ("step", 8, 8), ("skipped", 16, 8),
        ("last_loss", 24, 8), ("last_grad_norm", 32, 8), ("lr", 40, 8)]),
    "simdiff_distill_config": (48, [
        ("struct_size", 0, 8), ("teacher_steps", 8, 4), ("guidance", 16, 8),
        ("seed", 24, 8), ("precision", 32, 4), ("num_threads", 36, 4),
        ("weighting", 40, 4)]),
    "simdiff_distill_stats": (72, [
        ("struct_size", 0, 8), ("round", 8, 4), ("teacher_steps", 12, 4),
        ("student_steps", 16, 4), ("guidance", 24, 8), ("step", 32, 8),
        ("skipped", 40, 8), ("total_steps", 48, 8), ("last_loss", 56, 8),
        ("lr", 64, 8)]),
    "simdiff_distill_info": (32, [
        ("struct_size", 0, 8), ("distilled", 8, 4), ("steps", 12, 4),
        ("teacher_steps", 16, 4), ("rounds", 20, 4), ("guidance", 24, 8)]),
    "simdiff_sampler_config": (80, [
        ("struct_size", 0, 8), ("method", 8, 4), ("steps", 12, 4), ("eta", 16, 8),
        ("guidance", 24, 8), ("clip_x", 32, 4), ("spacing", 36, 4),
        ("schedule", 40, 8), ("batch_chunk", 48, 4), ("precision", 52, 4),
        ("num_threads", 56, 4), ("guidance_interval", 60, 4),
        ("guidance_logsnr_min", 64, 8), ("guidance_logsnr_max", 72, 8)]),
    "simdiff_run_options": (88, [
        ("struct_size", 0, 8), ("seeds", 8, 8), ("first_index", 16, 8),
        ("variation_strength", 24, 8), ("variation_seed", 32, 8),
        ("variation_seeds", 40, 8), ("latents", 48, 8), ("cond", 56, 8),
        ("context", 64, 8), ("context_len", 72, 8), ("prompts", 80, 8)]),
    "simdiff_image_folder_config": (40, [
        ("struct_size", 0, 8), ("size", 8, 4), ("channels", 12, 4),
        ("background", 16, 4), ("on_bad_image", 20, 4), ("max_image_pixels", 24, 8),
        ("max_file_bytes", 32, 8)]),
}

LIB = _native.LIB


def ctypes_layout(cls):
    return [(name, getattr(cls, name).offset, getattr(cls, name).size)
            for name, _ in cls._fields_]


@unittest.skipUnless(struct.calcsize("P") == 8 and ctypes.sizeof(ctypes.c_long) == 8,
                     "the hand-written layout is for LP64 platforms")
class TestLP64Layout(unittest.TestCase):
    def test_every_struct_matches_the_header_layout(self):
        for cname, (size, fields) in LP64.items():
            with self.subTest(struct=cname):
                cls = _native.STRUCTS[cname]
                self.assertEqual(ctypes.sizeof(cls), size)
                self.assertEqual(ctypes_layout(cls), fields)


class TestLibraryAgrees(unittest.TestCase):
    """struct_size as the library writes and checks it."""

    def test_config_init_writes_exactly_the_size_it_is_given(self):
        cases = [
            (_native.ModelConfigStruct,
             lambda p, n: LIB.simdiff_model_config_init_sized(p, n, 1, 16, 3)),
            (_native.OptimizerConfigStruct, LIB.simdiff_optimizer_config_init_sized),
            (_native.TrainerConfigStruct, LIB.simdiff_trainer_config_init_sized),
            (_native.DistillConfigStruct, LIB.simdiff_distill_config_init_sized),
            (_native.SamplerConfigStruct, LIB.simdiff_sampler_config_init_sized),
            (_native.ImageFolderConfigStruct, LIB.simdiff_image_folder_config_init_sized),
        ]
        for cls, init in cases:
            n = ctypes.sizeof(cls)
            for size in (n, n + 24):   # ours, and a newer caller's larger struct
                with self.subTest(struct=cls.__doc__, size=size):
                    buf = ctypes.create_string_buffer(b"\xa5" * (size + 32), size + 32)
                    self.assertEqual(init(ctypes.cast(buf, ctypes.POINTER(cls)), size), 0)
                    self.assertEqual(ctypes.c_size_t.from_buffer(buf).value, size)
                    self.assertEqual(buf.raw[n:size], bytes(size - n))  # unknown: zero
                    self.assertEqual(buf.raw[size:], b"\xa5" * 32)     # never past
            with self.subTest(struct=cls.__doc__, size=8):
                buf = ctypes.create_string_buffer(b"\xa5" * n, n)
                self.assertEqual(init(ctypes.cast(buf, ctypes.POINTER(cls)), 8),
                                 simdiff.Status.INVALID_ARG)
                self.assertEqual(buf.raw, b"\xa5" * n)                 # nothing written

    def test_model_validate_rejects_a_smaller_struct_size(self):
        c = simdiff.ModelConfig("uvit", 16, 1)
        c.validate()
        raw = c._c
        msg = ctypes.create_string_buffer(512)
        self.assertEqual(LIB.simdiff_model_config_validate(ctypes.byref(raw), msg, 512), 0)
        raw.struct_size = 151  # one byte short of the first layout (ends at 152)
        self.assertEqual(LIB.simdiff_model_config_validate(ctypes.byref(raw), msg, 512),
                         simdiff.Status.INVALID_ARG)
        self.assertIn(b"struct_size", msg.value)

    def test_stats_get_accepts_exactly_the_ctypes_size(self):
        # stats_get checks struct_size >= sizeof: ours must not be smaller.
        with simdiff.Model.create(seed=1, arch="uvit", image_size=8, channels=1,
                                  level_channels=[8], norm_groups=4, emb_dim=16,
                                  attn_resolution=4, tf_width=16, tf_depth=1,
                                  tf_heads=2) as m, \
                simdiff.Trainer(m, "shifted(8,64)") as t:
            st = _native.TrainerStatsStruct()
            st.struct_size = ctypes.sizeof(st)
            self.assertEqual(LIB.simdiff_trainer_stats_get(t._handle(), ctypes.byref(st)), 0)
            st.struct_size = ctypes.sizeof(st) - 1
            self.assertEqual(LIB.simdiff_trainer_stats_get(t._handle(), ctypes.byref(st)),
                             simdiff.Status.INVALID_ARG)

    def test_sampler_create_takes_older_and_newer_sizes(self):
        class Newer(ctypes.Structure):   # a later sampler config: 16 more bytes
            _fields_ = [("base", _native.SamplerConfigStruct),
                        ("extra", ctypes.c_ubyte * 16)]
        n = ctypes.sizeof(_native.SamplerConfigStruct)
        fields_end = _native.SamplerConfigStruct.batch_chunk.offset + 4
        with simdiff.Model.load(_fixture("uvit_plain")) as m, \
                simdiff.Schedule.shifted(8) as s:
            c = Newer()
            self.assertEqual(LIB.simdiff_sampler_config_init_sized(
                ctypes.cast(ctypes.byref(c), ctypes.POINTER(_native.SamplerConfigStruct)),
                ctypes.sizeof(c)), 0)
            c.base.schedule = s._handle()
            p = ctypes.cast(ctypes.byref(c), ctypes.POINTER(_native.SamplerConfigStruct))

            def create():
                out = ctypes.c_void_p()
                st = LIB.simdiff_sampler_create(ctypes.byref(out), m._handle(), p)
                LIB.simdiff_sampler_destroy(out)
                self.assertEqual(out.value is None, st != 0)
                return st

            self.assertEqual(c.base.struct_size, ctypes.sizeof(c))
            self.assertEqual(create(), 0)                 # newer, extra bytes zero
            c.extra[3] = 1
            self.assertEqual(create(), simdiff.Status.UNSUPPORTED)
            self.assertIn(b"simdiff_sampler_config", LIB.simdiff_last_error())
            c.extra[3] = 0
            for size, want in ((n, 0), (fields_end, 0), (fields_end - 1, simdiff.Status.INVALID_ARG),
                               (8, simdiff.Status.INVALID_ARG), (1 << 40, simdiff.Status.INVALID_ARG)):
                with self.subTest(struct_size=size):
                    c.base.struct_size = size
                    self.assertEqual(create(), want)


def _fixture(name):
    from support import fixture
    return fixture("model", name + ".safetensors")


class TestDefaults(unittest.TestCase):
    """Defaults read through the ctypes fields equal the documented ones, so
    every field is read at its right offset."""

    def test_sampler_defaults(self):
        c = simdiff.SamplerConfig()
        self.assertEqual(c.to_dict(), dict(
            method=simdiff.SamplerMethod.DPMPP_2M, steps=32, eta=0.0, guidance=1.0,
            clip_x=True, spacing=simdiff.Spacing.UNIFORM_T, batch_chunk=0,
            precision=simdiff.Precision.F32, num_threads=0, guidance_interval=False,
            guidance_logsnr_min=0.0, guidance_logsnr_max=0.0))
        self.assertIsNone(c._c.schedule)
        self.assertEqual(c._c.struct_size, ctypes.sizeof(c._c))

    def test_optimizer_defaults(self):
        c = simdiff.OptimizerConfig()
        self.assertEqual(c.to_dict(), dict(
            lr=2e-4, beta1=0.9, beta2=0.99, eps=1e-8, weight_decay=0.0,
            warmup_steps=500, decay=simdiff.LrDecay.CONSTANT, total_steps=0,
            min_lr_ratio=0.1, clip_norm=1.0, ema_decay=0.9995))

    def test_trainer_defaults(self):
        c = simdiff.TrainerConfig()
        self.assertEqual(c.to_dict(), dict(loss=simdiff.Loss.EPS, multiscale_base=32,
                                           label_dropout=0.1, stratified_t=True, seed=0,
                                           precision=simdiff.Precision.F32, num_threads=0,
                                           ctx_dropout=0.1))

    def test_model_defaults(self):
        c = simdiff.ModelConfig("unet", 32, 3)
        self.assertEqual(c.arch, simdiff.Arch.UNET)
        self.assertEqual((c.image_size, c.channels), (32, 3))
        self.assertEqual(c.norm_groups, 32)
        self.assertEqual(c.emb_dim, 256)
        self.assertEqual(c.dropout_res, 0.1)
        self.assertEqual(c.dropout_tf, 0.2)
        self.assertEqual(c.dropout_max_resolution, 16)
        self.assertEqual(c.prediction, simdiff.Prediction.V)
        self.assertEqual(c.level_channels, (64, 128, 128))
        self.assertEqual(c.level_blocks, (1, 2, 2))
        self.assertEqual(c.num_levels, 3)
        c.validate()


class TestKeywords(unittest.TestCase):
    def test_unknown_keywords_list_the_valid_names(self):
        for make in (lambda: simdiff.ModelConfig("uvit", 16, 1, depth=3),
                     lambda: simdiff.SamplerConfig(stepz=3),
                     lambda: simdiff.OptimizerConfig(learning_rate=1.0),
                     lambda: simdiff.TrainerConfig(los="v")):
            with self.subTest(), self.assertRaises(TypeError) as cm:
                make()
            msg = str(cm.exception)
            self.assertIn("valid names", msg)
        with self.assertRaises(TypeError) as cm:
            simdiff.SamplerConfig(stepz=3)
        for name in ("method", "steps", "eta", "guidance", "clip_x", "spacing",
                     "batch_chunk"):
            self.assertIn(name, str(cm.exception))
        self.assertNotIn("struct_size", str(cm.exception))

    def test_enum_fields_take_members_names_and_numbers(self):
        self.assertEqual(simdiff.SamplerConfig(method="ddim").method, simdiff.SamplerMethod.DDIM)
        self.assertEqual(simdiff.SamplerConfig(method="DPMPP2M").method,
                         simdiff.SamplerMethod.DPMPP_2M)
        self.assertEqual(simdiff.SamplerConfig(method=0).method, simdiff.SamplerMethod.DDPM)
        self.assertEqual(simdiff.SamplerConfig(spacing="logsnr").spacing,
                         simdiff.Spacing.UNIFORM_LOGSNR)
        self.assertEqual(simdiff.TrainerConfig(loss=simdiff.Loss.MULTISCALE).loss,
                         simdiff.Loss.MULTISCALE)
        with self.assertRaises(ValueError) as cm:
            simdiff.SamplerConfig(method="euler")
        self.assertIn("'ddim'", str(cm.exception))
        with self.assertRaises(TypeError):
            simdiff.SamplerConfig(method=1.5)

    def test_enum_names_come_from_the_library(self):
        # simdiff_<enum>_name / _from_name: every member's C name reads back
        # to the member, and the aliases of the C headers are accepted.
        for cls in (simdiff.Arch, simdiff.Stem, simdiff.Prediction, simdiff.Loss,
                    simdiff.LrDecay, simdiff.SamplerMethod, simdiff.Spacing,
                    simdiff.ScheduleKind, simdiff.Layout, simdiff.FloatRange):
            for m in cls:
                with self.subTest(member=m):
                    self.assertIs(cls.coerce(m.c_name, "t"), m)
        self.assertEqual(simdiff.SamplerMethod.DPMPP_2M.c_name, "dpmpp2m")
        self.assertEqual(simdiff.Spacing.UNIFORM_LOGSNR.c_name, "uniform_logsnr")
        self.assertIs(simdiff.SamplerMethod.coerce("DPM-Solver++ 2M", "t"),
                      simdiff.SamplerMethod.DPMPP_2M)
        self.assertIs(simdiff.FloatRange.coerce("-11", "t"), simdiff.FloatRange.PM1)
        self.assertIs(simdiff.Arch.coerce("U-ViT", "t"), simdiff.Arch.UVIT)

    def test_numbers_are_checked_before_they_reach_c(self):
        with self.assertRaises(OverflowError):
            simdiff.SamplerConfig(steps=2 ** 40)   # ctypes would wrap silently
        with self.assertRaises(TypeError):
            simdiff.SamplerConfig(steps=3.5)
        with self.assertRaises(TypeError):
            simdiff.OptimizerConfig(lr="fast")
        with self.assertRaises(OverflowError):
            simdiff.TrainerConfig(seed=-1)
        self.assertEqual(simdiff.TrainerConfig(seed=2 ** 64 - 1).seed, 2 ** 64 - 1)

    def test_levels_set_num_levels(self):
        c = simdiff.ModelConfig("unet", 32, 1, level_channels=[32, 64], level_blocks=[1, 3])
        self.assertEqual((c.num_levels, c.level_channels, c.level_blocks),
                         (2, (32, 64), (1, 3)))
        with self.assertRaises(ValueError):
            simdiff.ModelConfig("unet", 32, 1, level_channels=[32, 64], level_blocks=[1])
        with self.assertRaises(simdiff.InvalidArgumentError):
            simdiff.ModelConfig("unet", 32, 1, level_channels=[8] * 9)

    def test_validate_says_what_to_change(self):
        c = simdiff.ModelConfig("uvit", 16, 1, stem="patch", stem_param=3)
        with self.assertRaises(simdiff.InvalidArgumentError) as cm:
            c.validate()
        self.assertIn("divisible", str(cm.exception))
        self.assertIsInstance(cm.exception, ValueError)

    def test_config_objects(self):
        a = simdiff.OptimizerConfig(lr=1e-3)
        b = a.copy()
        self.assertEqual(a, b)
        b.lr = 2e-3
        self.assertNotEqual(a, b)
        self.assertIn("lr=0.001", repr(a))
        with self.assertRaises(AttributeError):
            a.learning_rate = 1
        with self.assertRaises(AttributeError):
            a.learning_rate


if __name__ == "__main__":
    unittest.main()
