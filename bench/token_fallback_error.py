"""How wrong are token counts for GPT-4o-family models if o200k_base is missing?

Arbiter counts GPT-4o, GPT-4.1, GPT-5 and o-series prompts with o200k_base. If no
verified copy of that file is installed (see providers/encodings.py) it falls back
to cl100k_base. This measures the fallback's counting error on realistic text:
English prose (this repository's docs and installed packages' descriptions),
Python source, JSON, and chat-style sentences in twelve languages.

    python bench/token_fallback_error.py

Prints, per kind of text, the tokens each encoding counts and the relative error
of cl100k_base against o200k_base (positive: the fallback over-counts).
"""

from __future__ import annotations

import importlib.metadata
import json
from pathlib import Path

from providers.encodings import load_encoding

ROOT = Path(__file__).resolve().parents[1]

MULTILINGUAL = [
    "Können Sie mir bitte erklären, wie ich meine Bestellung stornieren kann?",
    "Je voudrais réserver une table pour quatre personnes ce soir à vingt heures.",
    "¿Cuál es la diferencia entre una cuenta corriente y una cuenta de ahorros?",
    "Qual è il modo migliore per imparare una nuova lingua in poco tempo?",
    "Как мне сбросить пароль, если я больше не помню адрес электронной почты?",
    "この書類を明日の会議までに英語に翻訳していただけますか。",
    "请帮我总结一下这篇文章的主要观点，并列出三个关键结论。",
    "이 제품의 배송은 보통 며칠 정도 걸리나요? 환불 정책도 알려주세요.",
    "मुझे अपने व्यवसाय के लिए एक सरल मार्केटिंग योजना बनाने में मदद चाहिए।",
    "Przepraszam, czy mógłby Pan powtórzyć ostatnie zdanie nieco wolniej?",
    "Bu raporu yarın sabaha kadar bitirmem gerekiyor, yardım edebilir misin?",
    "Ik heb een vraag over mijn factuur van vorige maand; er staat een fout in.",
]


def _samples() -> dict[str, str]:
    docs = [p.read_text() for p in [ROOT / "README.md"] if p.exists()]
    for name in ("fastapi", "pydantic", "httpx", "redis", "tenacity", "uvicorn"):
        try:
            docs.append(importlib.metadata.metadata(name).get_payload() or "")  # type: ignore[attr-defined]
        except importlib.metadata.PackageNotFoundError:
            pass
    code = [p.read_text() for p in sorted(ROOT.glob("*/*.py"))]
    from gateway.app import create_app
    from gateway.config import parse_settings

    settings = parse_settings((ROOT / "config.example.yaml").read_text(), environ={})
    schema = json.dumps(create_app(settings).openapi(), indent=2)
    return {
        "english prose": "\n".join(docs),
        "python source": "\n".join(code),
        "json": schema,
        "multilingual chat": "\n".join(MULTILINGUAL * 20),
    }


def main() -> None:
    o200k, cl100k = load_encoding("o200k_base"), load_encoding("cl100k_base")
    assert o200k.name == "o200k_base", "o200k_base is not installed: nothing to compare"
    total_o = total_c = 0
    print(f"{'text':<20}{'chars':>10}{'o200k':>10}{'cl100k':>10}{'error':>9}")
    for kind, text in _samples().items():
        o = len(o200k.encode(text, disallowed_special=()))
        c = len(cl100k.encode(text, disallowed_special=()))
        total_o, total_c = total_o + o, total_c + c
        print(f"{kind:<20}{len(text):>10}{o:>10}{c:>10}{(c - o) / o:>+9.1%}")
    print(f"{'all':<20}{'':>10}{total_o:>10}{total_c:>10}{(total_c - total_o) / total_o:>+9.1%}")


if __name__ == "__main__":
    main()
