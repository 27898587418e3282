"""Synthetic Korean and English text for the conversations benchmark: questions,
answers and knowledge-base documents composed from templates and word banks.

Pure Python (no Django), seeded, so every run builds the same texts. Word
banks are ordered from common to rare: words are drawn with Zipf weights by
their position, so the first nouns end up in a large share of the logs and
the last ones in a handful, which is what the full-text cases need.
"""

import random
import re

# (Korean, English) pairs, most common first.
NOUNS = [
    ("비밀번호", "password"),
    ("계정", "account"),
    ("결제", "payment"),
    ("주문", "order"),
    ("배송", "shipment"),
    ("환불", "refund"),
    ("로그인", "login"),
    ("알림", "notification"),
    ("보고서", "report"),
    ("대시보드", "dashboard"),
    ("영수증", "receipt"),
    ("쿠폰", "coupon"),
    ("포인트", "point"),
    ("회원가입", "signup"),
    ("이메일", "email"),
    ("휴대폰", "phone"),
    ("주소", "address"),
    ("프로필", "profile"),
    ("데이터베이스", "database"),
    ("서버", "server"),
    ("백업", "backup"),
    ("권한", "permission"),
    ("관리자", "administrator"),
    ("검색", "search"),
    ("로그", "log"),
    ("모델", "model"),
    ("학습", "training"),
    ("데이터셋", "dataset"),
    ("문서", "document"),
    ("파일", "file"),
    ("업로드", "upload"),
    ("다운로드", "download"),
    ("인증서", "certificate"),
    ("네트워크", "network"),
    ("방화벽", "firewall"),
    ("프린터", "printer"),
    ("휴가", "vacation"),
    ("급여", "payroll"),
    ("출장", "travel"),
    ("계약서", "contract"),
    ("견적서", "quotation"),
    ("세금계산서", "invoice"),
    ("재고", "inventory"),
    ("창고", "warehouse"),
    ("납품", "delivery"),
    ("품질", "quality"),
    ("고객", "customer"),
    ("상담", "consultation"),
    ("예약", "reservation"),
    ("일정", "schedule"),
    ("회의실", "room"),
    ("메신저", "messenger"),
    ("캘린더", "calendar"),
    ("구독", "subscription"),
    ("요금제", "plan"),
    ("할인", "discount"),
    ("멤버십", "membership"),
    ("카드", "card"),
    ("계좌", "bank"),
    ("송금", "transfer"),
    ("대출", "loan"),
    ("보험", "insurance"),
    ("청구", "claim"),
    ("진료", "appointment"),
    ("처방전", "prescription"),
    ("검사", "test"),
    ("결과지", "result"),
    ("임베딩", "embedding"),
    ("색인", "index"),
    ("토큰", "token"),
    ("프롬프트", "prompt"),
    ("파이프라인", "pipeline"),
    ("클러스터", "cluster"),
    ("컨테이너", "container"),
    ("배포", "deployment"),
    ("모니터링", "monitoring"),
    ("장애", "outage"),
    ("복제본", "replica"),
    ("샤드", "shard"),
    ("양자화", "quantization"),
    ("형태소", "morpheme"),
    ("토크나이저", "tokenizer"),
    ("체크포인트", "checkpoint"),
    ("하이퍼파라미터", "hyperparameter"),
]
# Subjects of only a few questions, which logs seldom draw: the rare search terms.
RARE_NOUNS = [("온톨로지", "ontology"), ("리랭커", "reranker"), ("증류", "distillation"), ("파인튜닝", "finetuning")]
# (Korean Sino-Korean verb noun used with 하다, English verb), most common first.
VERBS = [
    ("변경", "change"),
    ("확인", "check"),
    ("취소", "cancel"),
    ("신청", "request"),
    ("설정", "configure"),
    ("조회", "view"),
    ("등록", "register"),
    ("삭제", "delete"),
    ("복구", "restore"),
    ("수정", "edit"),
    ("발급", "issue"),
    ("연동", "connect"),
    ("초기화", "reset"),
    ("내보내기", "export"),
    ("승인", "approve"),
    ("이전", "migrate"),
]
LATIN_TERMS = ["API", "VPN", "SSO", "Excel", "Slack", "PDF", "CSV", "OTP", "QR", "Wi-Fi"]

KO_QUESTIONS = [
    "{n1_eul} {v}하려면 어떻게 해야 하나요?",
    "{n1} {v} 방법을 알려주세요.",
    "{n1_i} 안 돼요. {n2} 문제인가요?",
    "{n1_wa} {n2}의 차이가 뭔가요?",
    "{n1} {v} 후에 {n2_eun} 언제 반영되나요?",
    "{n1}에서 {code} 오류가 발생합니다. 어떻게 하나요?",
    "{latin}로 {n1_eul} {v}할 수 있나요?",
    "{n1} {v} 기한이 언제까지인가요?",
    "{n2} 화면에서 {n1_eul} 찾을 수 없어요.",
    "{n1_eul} {v}했는데 {n2_i} 그대로예요.",
    "관리자가 아니어도 {n1} {v_i} 가능한가요?",
    "{n1} {v} 수수료가 있나요?",
]
EN_QUESTIONS = [
    "How do I {v} my {n1}?",
    "What is the difference between {n1} and {n2}?",
    "Why does the {n1} fail after I {v} the {n2}?",
    "Can I {v} the {n1} from the {n2} page?",
    "Error {code} when I try to {v} the {n1}",
    "Is it possible to {v} a {n1} with {latin}?",
    "Where can I find the {n1} in the {n2} screen?",
    "How long does it take to {v} a {n1}?",
    "Who can {v} the {n1} for our team?",
    "My {n1} still shows the old {n2}, what should I do?",
]
KO_ANSWERS = [
    "{n1_eun} 설정 메뉴의 {n2} 화면에서 {v}할 수 있습니다 [1].",
    "{v} 요청은 보통 {d}일 안에 처리됩니다 [2].",
    "{n1} {v_i} 되지 않으면 관리자에게 {n2} 권한을 요청하세요 [1].",
    "자세한 내용은 {n2} 안내 문서를 참고하세요 [3].",
    "{n1} 기록은 {d}일 동안 보관됩니다 [2].",
    "변경 사항은 {n2}에 바로 반영됩니다 [1].",
    "{code} 오류는 {n2} 연결이 끊겼을 때 나타나며 다시 시도하면 대부분 해결됩니다 [2].",
    "{latin} 연동은 {n2} 메뉴에서 켤 수 있습니다 [3].",
]
EN_ANSWERS = [
    "You can {v} the {n1} from the {n2} settings page [1].",
    "Requests to {v} a {n1} are usually processed within {d} days [2].",
    "If you cannot {v} the {n1}, ask an administrator for {n2} permission [1].",
    "See the {n2} guide for details [3].",
    "{n1} records are kept for {d} days [2].",
    "Changes show up in the {n2} right away [1].",
    "Error {code} appears when the {n2} connection drops; retrying usually fixes it [2].",
    "The {latin} integration can be switched on in the {n2} menu [3].",
]
ERRORS = [
    ("llm_unavailable", "The chat model is unavailable."),
    ("llm_timeout", "The chat model did not answer in time."),
    ("vector_index_stale", "The vector index must be rebuilt."),
]
_MARKER = re.compile(r" \[\d\]")
FEEDBACK_COMMENTS = [
    "",
    "",
    "",
    "도움이 됐어요",
    "출처가 틀렸어요",
    "Helpful, thanks",
    "답이 너무 길어요",
    "Wrong answer",
]
FEEDBACK_TAGS = [[], ["정확"], ["부정확"], ["출처없음"], ["helpful"], ["too-long"]]


def _batchim(word: str) -> bool:
    """Whether a word ends in a final consonant (it picks 을/를, 이/가, ...)."""
    last = word[-1]
    if "가" <= last <= "힣":
        return (ord(last) - 0xAC00) % 28 != 0
    return last.lower() in "lmnr"  # Latin words, as most Koreans read them


def _particles(word: str) -> dict[str, str]:
    final = _batchim(word)
    return {
        "eul": "을" if final else "를",
        "i": "이" if final else "가",
        "eun": "은" if final else "는",
        "wa": "과" if final else "와",
    }


def _zipf_choice(rng: random.Random, bank: list, exponent: float = 1.0):
    weights = [1 / (rank + 1) ** exponent for rank in range(len(bank))]
    return rng.choices(bank, weights=weights)[0]


def _fill(template: str, rng: random.Random, lang: str, first: tuple | None = None) -> str:
    """One template with words drawn from the banks (`first` forces the first noun)."""
    n1 = first or _zipf_choice(rng, NOUNS)
    n2 = _zipf_choice(rng, NOUNS)
    verb = _zipf_choice(rng, VERBS, 0.8)
    k = 0 if lang == "ko" else 1
    values = {
        "n1": n1[k],
        "n2": n2[k],
        "v": verb[k],
        "code": f"E{rng.randint(100, 140)}",
        "latin": rng.choice(LATIN_TERMS),
        "d": rng.choice([3, 7, 14, 30, 90]),
    }
    # {n1_eul} is the noun with the object particle that fits it, and so on.
    for slot in ("n1", "n2", "v"):
        values.update({f"{slot}_{name}": values[slot] + p for name, p in _particles(values[slot]).items()})
    text = template.format(**values)
    return text[0].upper() + text[1:] if lang == "en" else text


def _conversation(rng: random.Random, lang: str, topic: tuple) -> dict:
    question = _fill(rng.choice(EN_QUESTIONS if lang == "en" else KO_QUESTIONS), rng, lang, topic)
    answers = EN_ANSWERS if lang == "en" else KO_ANSWERS
    sentences = [_fill(template, rng, lang, topic) for template in rng.sample(answers, rng.randint(2, 4))]
    return {"lang": lang, "question": question, "answer": " ".join(sentences)}


def conversation_pool(size: int, *, seed: int = 7, english_share: float = 0.3) -> list[dict]:
    """`size` distinct (question, answer) pairs, Korean and English, in popularity order.

    Each question is about a noun of the bank, drawn with Zipf weights; every
    noun is the subject of a few questions. The last entries, those logs draw
    least often, are the only ones about the RARE_NOUNS.
    """
    rng = random.Random(seed)
    rare = [_conversation(rng, "ko" if i % 2 == 0 else "en", topic) for topic in RARE_NOUNS for i in range(2)]
    topics = [noun for noun in NOUNS for _ in range(3)]
    pool: list[dict] = []
    seen: set[str] = {entry["question"] for entry in rare}
    while len(pool) < size - len(rare):
        lang = "en" if rng.random() < english_share else "ko"
        entry = _conversation(rng, lang, topics.pop() if topics else _zipf_choice(rng, NOUNS))
        if entry["question"] not in seen:
            seen.add(entry["question"])
            pool.append(entry)
    rng.shuffle(pool)
    return pool + rare


def document_text(rng: random.Random, *, paragraphs: int) -> tuple[str, str]:
    """(title, body) of a knowledge-base document: paragraphs of answer-like sentences on one topic."""
    lang = "en" if rng.random() < 0.3 else "ko"
    topic = _zipf_choice(rng, NOUNS, 0.7)
    k = 0 if lang == "ko" else 1
    title = f"{topic[k]} {'안내' if lang == 'ko' else 'guide'} {rng.randint(1, 10**6)}"
    answers = EN_ANSWERS if lang == "en" else KO_ANSWERS
    body = [
        " ".join(_MARKER.sub("", _fill(rng.choice(answers), rng, lang, topic)) for _ in range(rng.randint(5, 8)))
        for _ in range(paragraphs)
    ]
    return title, "\n\n".join(body)
