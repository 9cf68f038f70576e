"""The built-in text encoder (docs/text.md): build_vocab, Model.vocab,
set_vocab and tokenize; captions in Trainer.step, prompts in Sampler.run
and Model.forward; files keep the vocabulary; bad input refused."""
import math
import os

import simdiff
from support import TINY_UVIT, TempDirTest, flat

CAPTIONS = ["a bright light", "dark night", "light", "the dark"]
X = [0.8] * 64 + [-0.8] * 64 + [0.8] * 64 + [-0.8] * 64


def text_config(vocab_size):
    return dict(TINY_UVIT, num_classes=0, ctx_dim=8, ctx_len=4, text_vocab=vocab_size,
                text_layers=1, text_heads=2)


class TestText(TempDirTest):
    def test_vocab_and_tokenize(self):
        voc, size = simdiff.build_vocab(["Red heart", "blue HEART!", "cat face", "heart"])
        self.assertEqual(voc, "heart\nblue\ncat\nface\nred\n")
        self.assertEqual(size, 7)
        self.assertEqual(simdiff.build_vocab(["a b c", "c"], max_size=3), ("c\n", 3))
        with simdiff.Model.create(seed=1, **text_config(size)) as m:
            self.assertEqual(m.config.text_vocab, 7)
            self.assertIsNone(m.vocab)  # not set yet
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.tokenize("heart")
            m.set_vocab(voc)
            self.assertEqual(m.vocab, ["<pad>", "<unk>", "heart", "blue", "cat", "face", "red"])
            self.assertEqual(m.tokenize("Red, HEART"), ([6, 2], 2))
            self.assertEqual(m.tokenize("dog face"), ([1, 5], 2))
            self.assertEqual(m.tokenize(""), ([], 0))
            self.assertEqual(m.tokenize("heart heart cat face red blue"), ([2, 2, 4, 5], 6))
            m.set_vocab(["x", "y", "z", "w", "v"])  # a list of words works too
            self.assertEqual(m.vocab[2:], ["x", "y", "z", "w", "v"])
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.set_vocab("x\nx\ny\nz\nw\n")  # a duplicate
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.set_vocab("x\n")  # the wrong count
            with self.assertRaises(ValueError):
                m.tokenize("a\0b")
        with simdiff.Model.create(seed=1, **TINY_UVIT) as m:
            self.assertEqual(m.vocab, [])
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.tokenize("cat")

    def test_train_sample_save(self):
        voc, size = simdiff.build_vocab(CAPTIONS)
        with simdiff.Model.create(seed=3, **text_config(size)) as m:
            m.set_vocab(voc)
            t = simdiff.Trainer(m, simdiff.Schedule.shifted(8, 64),
                                config=simdiff.TrainerConfig(seed=2),
                                optimizer=simdiff.OptimizerConfig(lr=3e-3, warmup_steps=2))
            with t:
                for _ in range(3):
                    self.assertTrue(math.isfinite(t.step(X, captions=CAPTIONS)))
                with self.assertRaises(TypeError):
                    t.step(X, captions=CAPTIONS[:3] + [None])
                with self.assertRaises(ValueError):
                    t.step(X, captions=CAPTIONS[:3])
                self.assertEqual(t.stats.step, 3)
            with simdiff.Sampler(m, steps=4, guidance=2.0) as s:
                out = flat(s.run(seed=1, prompts=["dark night", "", "cat"]))
                self.assertEqual(len(out), 3 * 64)
                self.assertTrue(all(math.isfinite(v) for v in out))
                # "" is the null context: the same as no prompt at all.
                a = flat(s.run(n=1, seed=1, first_index=1, prompts=[""]))
                b = flat(s.run(n=1, seed=1, first_index=1))
                self.assertEqual(a, b)
            z = [math.sin(0.1 * i) for i in range(128)]
            f = flat(m.forward(z, [0.5, -1.0], prompts=["light", "dark"]))
            path = os.path.join(self.tmp, "text.safetensors")
            m.save_safetensors(path)
        with simdiff.Model.load(path) as m2:
            self.assertEqual(m2.vocab[2:], voc.split())
            self.assertEqual(flat(m2.forward(z, [0.5, -1.0], prompts=["light", "dark"])), f)

    def test_prompts_refused(self):
        with simdiff.Model.create(seed=1, **TINY_UVIT) as m:
            m.set_schedule(simdiff.Schedule.shifted(8, 64))
            with simdiff.Sampler(m, steps=2) as s:
                with self.assertRaises(simdiff.InvalidArgumentError) as cm:
                    s.run(seed=1, prompts=["cat"])
                self.assertIn("no text encoder", str(cm.exception))
            with self.assertRaises(simdiff.InvalidArgumentError):
                m.forward([0.0] * 64, 0.0, prompts=["cat"])
        with simdiff.Model.create(seed=1, **text_config(4)) as m:
            m.set_vocab("a\nb\n")
            with self.assertRaises(TypeError):
                m.forward([0.0] * 64, 0.0, prompts="a")  # one string, not a list
            with self.assertRaises(ValueError):
                m.forward([0.0] * 64, 0.0, prompts=["a", "b"])  # 2 for 1 image
