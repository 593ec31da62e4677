"""`reward.rm_backend: vllm`: the RM client speaking vLLM 0.31's classification API.

No vLLM here (no GPU; its wheels are CUDA builds), so the server is a fake that follows vLLM
0.31's documented wire format (GET /v1/models -> ModelList; POST /classify
ClassificationCompletionRequest {model, input: token ids, use_activation} -> ClassificationResponse
{data: [{index, label, probs, num_classes}]}) and computes what vLLM computes for a
*ForSequenceClassification model: the score head at the LAST token it is given (sigmoid unless
use_activation is false), here with transformers on the tiny RM. It runs on loopback and is
stopped by its test."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import httpx
import pytest
import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from pgrpo import serving
from pgrpo.config import ConfigError
from pgrpo.rm.backends import (
    VLLM_CLASSIFY_PATH,
    RMBackendConfigError,
    RMBackendError,
    VLLMBackend,
    make_backend,
    vllm_served_name,
)
from pgrpo.rm.client import RMClient, RMServiceError
from pgrpo.rm.manifest import MANIFEST_FILE
from pgrpo.rm.scoring import RewardScorer, RMItem

ITEMS = [RMItem(f"Return x plus {i}." * (1 + i % 3), f"Add {i} to x, then return it." * (1 + i % 4),
                f"def f(x):\n    return x + {i}") for i in range(6)]


class FakeVLLM(serving.BackgroundServer):
    """`vllm serve RM_DIR --runner pooling --convert classify` as far as /v1/models and /classify go."""

    def __init__(self, rm_path: str, *, max_model_len: int = 4096, fail_with: int | None = None,
                 served_name: str | None = None) -> None:
        from transformers import AutoModelForSequenceClassification

        name = served_name or vllm_served_name(rm_path)[0]  # as docs/rm-service.md starts it

        model = AutoModelForSequenceClassification.from_pretrained(rm_path).eval()
        model.config.pad_token_id = None  # batch of one, no pad id: transformers reads the LAST token, as vLLM
        self.requests: list[dict] = []
        app = FastAPI()

        @app.get("/v1/models")
        def models() -> dict:
            return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "vllm",
                                                "root": rm_path, "parent": None, "max_model_len": max_model_len,
                                                "permission": []}]}

        @app.post(VLLM_CLASSIFY_PATH)
        async def classify(request: Request) -> JSONResponse:
            body = await request.json()
            self.requests.append(body)
            if body.get("model", name) != name:  # vLLM 0.31: 404 "The model `x` does not exist."
                return JSONResponse({"error": {"message": f"The model `{body['model']}` does not exist.",
                                               "code": 404}}, 404)
            if fail_with is not None:
                return JSONResponse({"error": {"message": "engine dead", "code": fail_with}}, status_code=fail_with)
            prompts = body["input"] if body["input"] and isinstance(body["input"][0], list) else [body["input"]]
            if not all(isinstance(p, list) and all(isinstance(t, int) for t in p) for p in prompts):
                return JSONResponse({"error": {"message": "this fake takes token ids only", "code": 400}}, 400)
            if any(len(p) > max_model_len for p in prompts):
                return JSONResponse({"error": {"message": "longer than max_model_len", "code": 400}}, 400)
            data = []
            for i, ids in enumerate(prompts):
                with torch.inference_mode():
                    logit = model(input_ids=torch.tensor([ids])).logits.float()[0]
                values = logit if body.get("use_activation") is False else torch.sigmoid(logit)
                data.append({"index": i, "label": "LABEL_0", "probs": values.tolist(), "num_classes": len(values)})
            n = sum(len(p) for p in prompts)
            return JSONResponse({"id": "classify-1", "object": "list", "created": 0, "model": name, "data": data,
                                 "usage": {"prompt_tokens": n, "total_tokens": n, "completion_tokens": 0,
                                           "prompt_tokens_details": None}})

        super().__init__(app, serving.bind("127.0.0.1", 0), "fake-vllm", lambda: None)


@pytest.fixture(scope="module")
def pad_is_eos_rm(tmp_path_factory, tiny_rm_path) -> str:
    """The tiny RM with pad == eos (as Qwen2.5 base tokenizers): transformers' head then reads the
    token before the final eos, not the last one."""
    from transformers import AutoConfig, AutoTokenizer

    out = tmp_path_factory.mktemp("rm-pad-eos")
    shutil.copytree(tiny_rm_path, out, dirs_exist_ok=True)
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.pad_token = tokenizer.eos_token
    tokenizer.save_pretrained(out)
    config = AutoConfig.from_pretrained(out)
    config.pad_token_id = tokenizer.eos_token_id
    config.save_pretrained(out)
    return str(out)


@pytest.mark.parametrize("which", ["distinct_pad", "pad_is_eos"])
def test_vllm_scores_equal_the_in_process_scorer(which, tiny_rm_path, pad_is_eos_rm):
    path = tiny_rm_path if which == "distinct_pad" else pad_is_eos_rm
    local = RewardScorer(path, device="cpu", batch_size=1)  # unpadded, one at a time: as the fake
    backend = VLLMBackend(path)
    with FakeVLLM(path) as fake, RMClient(fake.url, backend=backend, items_per_request=4) as client:
        assert client.manifest == local.manifest and client.max_length == local.max_length
        expected = local.raw_scores(ITEMS)
        # equal up to float rounding (same weights, same token ids, same read-out token)
        assert client.raw_scores(ITEMS) == pytest.approx(expected, abs=1e-6)
        assert client.score(ITEMS) == pytest.approx(local.score(ITEMS), abs=1e-6)
        assert client.calls == 2 * len(ITEMS) and len(fake.requests) == 4
        sent = fake.requests[0]
        assert sent["model"] == backend.served_name and sent["use_activation"] is False
        assert sent["input"][0] == backend.encode(ITEMS[0])[0]  # token ids, not text
        ids = [local.encode(it) for it in ITEMS]
        if which == "pad_is_eos":  # the final eos is not sent: vLLM would read it, transformers does not
            assert sent["input"][0] == ids[0][:-1] and ids[0][-1] == local.tokenizer.pad_token_id
            # ...and sending it would change the score: the trim is what makes them agree
            reply = httpx.post(fake.url + VLLM_CLASSIFY_PATH, json={"input": ids, "use_activation": False}).json()
            assert max(abs(d["probs"][0] - e) for d, e in zip(reply["data"], expected)) > 1e-3
        else:
            assert sent["input"][0] == ids[0]


def test_vllm_backend_counts_truncation_and_keeps_the_manifest_layout(tiny_rm_path):
    import threading

    long = RMItem("Return x. " * 200, "Think. " * 200, "def f(x):\n    return x")
    local = RewardScorer(tiny_rm_path, device="cpu", batch_size=1, max_length=64)
    backend = VLLMBackend(tiny_rm_path, max_length=64)
    threads = []
    build = backend.request

    def recording(chunk, manifest):
        threads.append(threading.current_thread().name)
        return build(chunk, manifest)

    backend.request = recording  # type: ignore[method-assign]
    with FakeVLLM(tiny_rm_path) as fake, RMClient(fake.url, backend=backend) as client:
        assert client.raw_scores([long, ITEMS[1]]) == pytest.approx(local.raw_scores([long, ITEMS[1]]), abs=1e-6)
        assert client.truncated == local.truncated == 1
        # this RM reads no code (its manifest): the code never reaches vLLM
        assert fake.requests[-1]["input"][1] == local.encode(RMItem(ITEMS[1].statement, ITEMS[1].reasoning))
    # tokenised on the client's encoder thread, not on its event loop
    assert threads and all(name.startswith("pgrpo-rm-encode") for name in threads)


def test_vllm_reply_with_several_classes_names_the_item(tiny_rm_path):
    _, _, parse = VLLMBackend(tiny_rm_path).request(ITEMS[:2], None)  # type: ignore[arg-type]  # unused here
    reply = {"data": [{"index": 0, "probs": [0.1], "num_classes": 1}, {"index": 1, "probs": [0.2, 0.8],
                                                                         "num_classes": 2}]}
    with pytest.raises(RMBackendError, match="returned 2 classes \\(2 values\\) for item 1: not a scalar"):
        parse(json.dumps(reply).encode())


def test_vllm_failures_name_the_url(tiny_rm_path):
    with FakeVLLM(tiny_rm_path, fail_with=500) as fake:
        with RMClient(fake.url, backend=VLLMBackend(tiny_rm_path), retries=1, backoff_s=0) as client:
            with pytest.raises(RMServiceError, match=rf"{fake.url} failed after 2 attempts.*500.*vllm serve"):
                client.score(ITEMS[:1])
    with FakeVLLM(tiny_rm_path, max_model_len=16) as fake:
        with RMClient(fake.url, backend=VLLMBackend(tiny_rm_path, max_length=64), retries=0) as client:
            with pytest.raises(RMServiceError, match=rf"vLLM at {fake.url}: max_model_len=16.*--max-model-len 64"):
                client.score(ITEMS[:1])
    dead = "http://127.0.0.1:9"
    with RMClient(dead, backend=VLLMBackend(tiny_rm_path), retries=0) as client:
        with pytest.raises(RMServiceError, match=f"{dead} failed.*is `vllm serve`"):
            client.score(ITEMS[:1])


def test_vllm_must_serve_this_rm_under_its_fingerprint_name(tiny_rm_path, pad_is_eos_rm, tmp_path, capsys):
    """GET /v1/models offers only id / root / max_model_len: the served name carries the RM's fingerprint."""
    from pgrpo.cli import main

    name, files = vllm_served_name(tiny_rm_path)
    assert name.startswith("pgrpo-rm-") and files[:2] == (MANIFEST_FILE, "config.json") and "tokenizer.json" in files
    assert vllm_served_name(pad_is_eos_rm)[0] != name  # another tokenizer / config: another name
    copy = tmp_path / "copy"  # the local copy without weights has the same name
    shutil.copytree(tiny_rm_path, copy, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    assert not list(copy.glob("*.safetensors")) and vllm_served_name(copy)[0] == name
    assert main(["rm", "vllm-name", str(copy)]) == 0 and capsys.readouterr().out.strip() == name
    # served under the name the old docs gave: refused, naming the URL, what it serves and the fix
    with FakeVLLM(tiny_rm_path, served_name="pgrpo-rm") as fake:
        with RMClient(fake.url, backend=VLLMBackend(str(copy)), retries=0) as client:
            with pytest.raises(RMServiceError, match=rf"vLLM at {fake.url} serves 'pgrpo-rm' \(root '{tiny_rm_path}'\), "
                                                     rf"not the RM in reward.rm_path=.*--served-model-name {name}"):
                client.score(ITEMS[:1])
        assert fake.requests == []  # nothing was scored by the wrong model
    # two URLs, the second serving another RM: the second is named
    with FakeVLLM(tiny_rm_path) as good, FakeVLLM(pad_is_eos_rm) as other:
        with RMClient([good.url, other.url], backend=VLLMBackend(tiny_rm_path), retries=0) as client:
            with pytest.raises(RMServiceError, match=rf"vLLM at {other.url} serves '{vllm_served_name(pad_is_eos_rm)[0]}'"):
                client.score(ITEMS[:1])
        with RMClient(good.url, backend=VLLMBackend(tiny_rm_path)) as client:
            assert len(client.score(ITEMS[:2])) == 2 and good.requests[-1]["model"] == name


def test_vllm_refuses_the_implicit_head_and_a_missing_rm(tmp_path, tiny_rm_path):
    shutil.copytree(tiny_rm_path, tmp_path, dirs_exist_ok=True)
    manifest = json.loads((tmp_path / MANIFEST_FILE).read_text())
    manifest.update(head="implicit", implicit={"beta": 0.5, "prompt_style": "pgrpo"})
    (tmp_path / MANIFEST_FILE).write_text(json.dumps(manifest))
    with pytest.raises(RMBackendConfigError, match="reward.rm_backend: vllm serves the scalar head only.*implicit.*"
                                                   "pgrpo rm serve --model"):
        make_backend("vllm", str(tmp_path))
    with pytest.raises(ConfigError, match="reward.rm_path: reward.rm_backend=vllm needs a local copy"):
        make_backend("vllm", None)
    (tmp_path / MANIFEST_FILE).unlink()
    with pytest.raises(ConfigError, match=f"reward.rm_path: {tmp_path}/{MANIFEST_FILE}: no reward-model manifest"):
        make_backend("vllm", str(tmp_path))
    with pytest.raises(ConfigError, match="reward.rm_backend: unknown reward-model backend 'vlm'"):
        make_backend("vlm")


def _recipe(*overrides):
    from pgrpo.train.config import load_train_config

    root = Path(__file__).resolve().parents[2]
    return load_train_config(root / "recipes" / "tiny-cpu.yaml", [
        "output_dir=x", f"data.source={root / 'recipes/data/tiny-humaneval.jsonl'}", "reward.build_tiny_rm=false",
        "reward.rm_max_length=null", *overrides])


def test_recipes_name_the_backend_and_check_it(tiny_rm_path):
    from pgrpo.train.config import rm_backend, validate_train_config

    with FakeVLLM(tiny_rm_path) as fake:
        recipe = _recipe("reward.rm_backend=vllm", f"reward.rm_url={fake.url}", f"reward.rm_path={tiny_rm_path}")
        validate_train_config(recipe)
        assert isinstance(rm_backend(recipe.reward), VLLMBackend)
        with pytest.raises(ConfigError, match="reward.rm_path: reward.rm_backend=vllm .* set both"):
            validate_train_config(_recipe("reward.rm_backend=vllm", f"reward.rm_url={fake.url}"))
    with pytest.raises(ConfigError, match=r"reward.rm_backend: must be one of \['pgrpo', 'vllm'\], got 'vLLM'"):
        validate_train_config(_recipe("reward.rm_backend=vLLM", f"reward.rm_path={tiny_rm_path}"))
    dead = "http://127.0.0.1:9"
    with pytest.raises(ConfigError, match=f"reward.rm_url: reward-model service {dead} failed"):
        validate_train_config(_recipe("reward.rm_backend=vllm", f"reward.rm_url={dead}",
                                      f"reward.rm_path={tiny_rm_path}", "reward.rm_retries=0"))
