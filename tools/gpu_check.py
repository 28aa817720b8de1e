#!/usr/bin/env python3
"""The GPU check's measurements; tools/gpu-check runs it on the GPU machine.

Checkpoints are made here with the machine's own PyTorch and transformers (random
weights, saved in bf16 as the official Index release is): a small Llama (grouped KV
heads, tied embeddings), an Index-shaped one (4 layers of the real width) and the
full-shape Index-1.9B-32K. transformers runs them as LlamaForCausalLM; ReportLens
reads the same safetensors with an Index `config.json` (`norm_head`, `rope_ratio: 32`).
The head is saved with unit rows, so Index's `norm_head` leaves it as transformers
uses it.

Results go to OUT/gpu-check.json after every step (a timeout keeps what was done) and
to OUT/gpu-check.md at the end.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import torch
from transformers import LlamaConfig, LlamaForCausalLM

ROOT = Path(__file__).resolve().parent.parent
# ReportLens on CUDA holds weights and the KV cache in f16; transformers runs in f32
# here. Rounding moves logits by well under this share of the largest; a logic error
# (mask, RoPE layout, cache) by half of it or more.
LOGIT_REL_TOL = 0.05
# Token ids compared position by position.
LOGIT_IDS = 48
# Greedy tokens compared CPU against CUDA.
GREEDY_TOKENS = 32
# The long prompt: 32K positions in all, with room for the decode after it.
DECODE_AFTER_LONG = 64
LONG_PROMPT = 32768 - DECODE_AFTER_LONG
SHORT_PROMPT = 4096
# Seconds any one ReportLens command may take.
STEP_TIMEOUT = 240


def load_maker():
    """models/make-index-checkpoint as a module (its SentencePiece writer and config)."""
    path = ROOT / "models" / "make-index-checkpoint"
    loader = importlib.machinery.SourceFileLoader("make_index_checkpoint", str(path))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    return mod


MAKER = load_maker()


class Results:
    def __init__(self, out):
        self.out = out
        self.data = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
        self.save()

    def put(self, key, value):
        self.data[key] = value
        self.save()
        print(f"{key}: {json.dumps(value)[:400]}", flush=True)

    def save(self):
        (self.out / "gpu-check.json").write_text(json.dumps(self.data, indent=2))


def hf_config(hidden, inter, layers, heads, kv_heads, vocab, context, rope_theta, tied):
    return LlamaConfig(
        hidden_size=hidden,
        intermediate_size=inter,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        vocab_size=vocab,
        max_position_embeddings=context,
        rope_theta=rope_theta,
        rms_norm_eps=1e-6,
        tie_word_embeddings=tied,
        bos_token_id=1,
        eos_token_id=2,
        pad_token_id=0,
        torch_dtype="bfloat16",
    )


def make_checkpoint(work, name, cfg, index_style):
    """Random weights saved in bf16 for transformers (DIR-hf) and ReportLens (DIR-rl)."""
    hf_dir, rl_dir = work / f"{name}-hf", work / f"{name}-rl"
    torch.manual_seed(0)
    with torch.device("cuda"):
        model = LlamaForCausalLM(cfg)
    model = model.to(torch.bfloat16).eval()
    if index_style:
        with torch.no_grad():
            w = model.lm_head.weight
            w.copy_((w.float() / w.float().norm(dim=1, keepdim=True)).to(w.dtype))
    model.save_pretrained(hf_dir, safe_serialization=True)
    tok = MAKER.tokenizer_model(cfg.vocab_size)
    (hf_dir / "tokenizer.model").write_bytes(tok)
    if not index_style:
        return model, hf_dir, hf_dir
    rl_dir.mkdir(exist_ok=True)
    for f in hf_dir.iterdir():
        if f.name.endswith(".safetensors") or f.name.endswith(".index.json") or f.name == "tokenizer.model":
            (rl_dir / f.name).symlink_to(f)
    index_cfg = dict(
        MAKER.CONFIG,
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers,
        num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads,
        vocab_size=cfg.vocab_size,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=cfg.rms_norm_eps,
        rope_ratio=cfg.rope_theta / 10000.0,
    )
    (rl_dir / "config.json").write_text(json.dumps(index_cfg, indent=2))
    return model, hf_dir, rl_dir


def run(cmd, timeout=STEP_TIMEOUT):
    """A ReportLens command; returns (stdout, peak GPU MiB of its process, seconds)."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak = [0]
    done = threading.Event()

    def poll():
        while not done.is_set():
            q = subprocess.run(
                ["nvidia-smi", "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
                capture_output=True, text=True,
            )
            for line in q.stdout.splitlines():
                pid, _, mib = line.partition(",")
                if pid.strip() == str(proc.pid) and mib.strip().isdigit():
                    peak[0] = max(peak[0], int(mib))
            done.wait(0.2)

    t = threading.Thread(target=poll, daemon=True)
    t.start()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        done.set()
        raise RuntimeError(f"timed out after {timeout} s: {' '.join(map(str, cmd))}\n{err[-2000:]}")
    done.set()
    t.join()
    if proc.returncode != 0:
        raise RuntimeError(f"exit {proc.returncode}: {' '.join(map(str, cmd))}\n{err[-2000:]}")
    return out, peak[0], time.time() - t0


def compare_logits(bin_, res, key, model, rl_dir, vocab):
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(3, vocab, (LOGIT_IDS,), generator=g).tolist()
    with torch.no_grad():
        ref = model.float()(torch.tensor([ids], device="cuda")).logits[0].float().cpu()
    model.to(torch.bfloat16)
    row = {}
    for device in ("cuda", "cpu"):
        out, peak, secs = run([bin_, "logits", "--model", rl_dir, "--ids", ",".join(map(str, ids)),
                               "--all", "--device", device])
        got = torch.tensor(json.loads(out)["logits"])[:, :vocab]
        rel = ((got - ref).abs().max() / ref.abs().max()).item()
        top1 = (got.argmax(1) == ref.argmax(1)).float().mean().item()
        row[device] = {"max_rel_diff": rel, "top1_agreement": top1, "seconds": round(secs, 1)}
    row["pass"] = row["cuda"]["max_rel_diff"] < LOGIT_REL_TOL
    res.put(key, row)


def compare_greedy(bin_, res, key, rl_dir, work):
    gguf = work / f"{rl_dir.name}-q8_0.gguf"
    run([bin_, "convert", "--model", rl_dir, "--quant", "q8_0", "--out", gguf])
    texts = {}
    for device in ("cpu", "cuda"):
        out, _, _ = run([bin_, "generate", "--model", gguf, "--prompt", "Net revenue for the quarter was",
                         "--greedy", "--max-tokens", str(GREEDY_TOKENS), "--device", device])
        texts[device] = out
    same = 0
    for a, b in zip(texts["cpu"], texts["cuda"]):
        if a != b:
            break
        same += 1
    res.put(key, {"identical": texts["cpu"] == texts["cuda"], "common_prefix_chars": same,
                  "cpu_chars": len(texts["cpu"]), "cuda_chars": len(texts["cuda"])})


def hf_speed(model, prompt_tokens, decode_tokens):
    """transformers bf16: prefill tok/s, decode tok/s after it, peak allocated MiB."""
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    ids = torch.randint(3, model.config.vocab_size, (1, prompt_tokens), device="cuda")
    with torch.no_grad():
        torch.cuda.synchronize()
        t0 = time.time()
        out = model.model(input_ids=ids, use_cache=True)
        nxt = model.lm_head(out.last_hidden_state[:, -1:]).argmax(-1)
        torch.cuda.synchronize()
        prefill = time.time() - t0
        past = out.past_key_values
        t1 = time.time()
        for _ in range(decode_tokens):
            out = model.model(input_ids=nxt, past_key_values=past, use_cache=True)
            past = out.past_key_values
            nxt = model.lm_head(out.last_hidden_state[:, -1:]).argmax(-1)
        torch.cuda.synchronize()
        decode = time.time() - t1
    return {
        "prefill_tokens_per_second": prompt_tokens / prefill,
        "decode_tokens_per_second": decode_tokens / decode if decode_tokens else None,
        "peak_gpu_mib": torch.cuda.max_memory_allocated() / 2**20,
    }


def rl_speed(bin_, rl_dir, prompt_tokens, decode_tokens):
    out, peak, _ = run([bin_, "bench", "--model", rl_dir, "--device", "cuda", "--prompt-tokens",
                        str(prompt_tokens), "--gen-tokens", str(decode_tokens), "--json"])
    r = json.loads(out)
    return {
        "prefill_tokens_per_second": r["prefill_tokens_per_second"],
        "decode_tokens_per_second": r["decode_tokens_per_second"] if decode_tokens else None,
        "peak_gpu_mib": peak,
        "estimate_mib": r["estimate"]["total"] / 2**20,
        "load_seconds": r["load_seconds"],
    }


def report(res, out):
    d = res.data
    lines = [f"# GPU check: {d.get('gpu')} (torch {d.get('torch')})", ""]
    for key in ("logits_llama_small", "logits_index_shaped"):
        if key in d:
            r = d[key]
            lines.append(f"- {key}: CUDA max rel diff {r['cuda']['max_rel_diff']:.2e} (top-1 "
                         f"{r['cuda']['top1_agreement']:.0%}), CPU {r['cpu']['max_rel_diff']:.2e}; "
                         f"{'PASS' if r['pass'] else 'FAIL'}")
    for key in ("greedy_llama_small_q8_0", "greedy_index_shaped_q8_0"):
        if key in d:
            r = d[key]
            lines.append(f"- {key}: identical {r['identical']} (common prefix {r['common_prefix_chars']} chars)")
    if "full_index" in d:
        lines += ["", "| full-shape Index | ReportLens CUDA | transformers bf16 | ratio |", "|---|---|---|---|"]
        for k, v in d["full_index"].items():
            rl, hf = v["reportlens"], v["transformers"]
            for m in ("prefill_tokens_per_second", "decode_tokens_per_second", "peak_gpu_mib"):
                if rl.get(m) is not None and hf.get(m):
                    lines.append(f"| {k} {m} | {rl[m]:.1f} | {hf[m]:.1f} | {rl[m] / hf[m]:.2f}x |")
    for k, v in d.items():
        if k.startswith("error"):
            lines.append(f"- {k}: {v}")
    (out / "gpu-check.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    res = Results(a.out)
    steps = []

    def small():
        cfg = hf_config(512, 1408, 4, 8, 2, 32000, 4096, 10000.0, tied=True)
        model, _, rl = make_checkpoint(a.work, "llama-small", cfg, index_style=False)
        compare_logits(a.bin, res, "logits_llama_small", model, rl, cfg.vocab_size)
        compare_greedy(a.bin, res, "greedy_llama_small_q8_0", rl, a.work)
        del model

    def shaped():
        c = MAKER.CONFIG
        cfg = hf_config(c["hidden_size"], c["intermediate_size"], 4, c["num_attention_heads"],
                        c["num_key_value_heads"], c["vocab_size"], c["max_position_embeddings"],
                        10000.0 * c["rope_ratio"], tied=False)
        model, _, rl = make_checkpoint(a.work, "index-shaped", cfg, index_style=True)
        compare_logits(a.bin, res, "logits_index_shaped", model, rl, cfg.vocab_size)
        compare_greedy(a.bin, res, "greedy_index_shaped_q8_0", rl, a.work)
        del model

    def full():
        c = MAKER.CONFIG
        cfg = hf_config(c["hidden_size"], c["intermediate_size"], c["num_hidden_layers"],
                        c["num_attention_heads"], c["num_key_value_heads"], c["vocab_size"],
                        c["max_position_embeddings"], 10000.0 * c["rope_ratio"], tied=False)
        cfg._attn_implementation = "sdpa"
        model, _, rl = make_checkpoint(a.work, "index-full", cfg, index_style=True)
        rows = {}
        for name, prompt, decode in (("4K", SHORT_PROMPT, 0), ("32K", LONG_PROMPT, DECODE_AFTER_LONG)):
            rows[name] = {"transformers": hf_speed(model, prompt, decode)}
            res.put("full_index", rows)
        del model
        torch.cuda.empty_cache()
        for name, prompt, decode in (("4K", SHORT_PROMPT, 0), ("32K", LONG_PROMPT, DECODE_AFTER_LONG)):
            rows[name]["reportlens"] = rl_speed(a.bin, rl, prompt, decode)
            res.put("full_index", rows)

    for step in (small, shaped, full):
        try:
            step()
        except Exception as e:  # keep going: each part reports on its own
            res.put(f"error_{step.__name__}", str(e)[-3000:])
        torch.cuda.empty_cache()
    report(res, a.out)
    failed = [k for k, v in res.data.items() if k.startswith("error") or (isinstance(v, dict) and v.get("pass") is False)]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
