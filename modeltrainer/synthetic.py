"""A labelled data set of operations and experiment logs, generated: for the
benchmark (bench/modeltrainer.py) and the demo data (modeltrainer/demo.py).

Each example is built from a template of its label with slots filled from
shared vocabularies, in Korean (about 60 %) or English. The labels overlap on
purpose: every template draws service names, numbers and filler phrases from
the same pools, some templates of one label use words that are typical of
another, and a fixed share of the labels is flipped at random (label noise),
so a classifier cannot reach a perfect score and the macro F1 says something.
The generator is seeded: the same arguments give the same examples.
"""

import random

LABELS = ("error", "warning", "performance", "security", "deployment", "experiment")

SERVICES = [
    "결제 서버",
    "인증 서비스",
    "검색 API",
    "추천 엔진",
    "주문 DB",
    "로그 수집기",
    "billing-api",
    "auth-service",
    "search-api",
    "recommender",
    "orders-db",
    "log-shipper",
    "gateway",
    "스토리지 노드",
    "배치 작업",
    "queue-worker",
]
FILLER_KO = [
    "오늘 오전에",
    "점검 중에",
    "야간 배치 후",
    "사용자 문의로",
    "자동 점검에서",
    "재시작 이후",
    "트래픽이 몰릴 때",
    "어제부터",
]
FILLER_EN = [
    "this morning",
    "during the check",
    "after the nightly batch",
    "per a user report",
    "in the automated check",
    "after the restart",
    "under peak traffic",
    "since yesterday",
]

TEMPLATES = {
    "error": [
        "{svc}에서 예외가 발생해 요청이 실패했습니다 ({code} 오류)",
        "{filler} {svc} 프로세스가 비정상 종료되었습니다",
        "{svc} 연결 실패: 상대 서버가 응답하지 않습니다",
        "{svc} 트랜잭션이 롤백되었고 데이터 저장에 실패했습니다",
        "{svc} raised an unhandled exception, request failed with {code}",
        "{svc} crashed {filler} with a segmentation fault",
        "connection to {svc} refused, the job failed after {n} retries",
    ],
    "warning": [
        "{svc} 디스크 사용률이 {pct}%로 임계치에 가까워지고 있습니다",
        "{filler} {svc} 재시도가 {n}회 발생했지만 요청은 처리되었습니다",
        "{svc} 인증서가 {n}일 후 만료됩니다",
        "{svc} 응답이 느려 재시도했습니다 (실패는 아님)",
        "{svc} disk usage at {pct}%, approaching the threshold",
        "{svc} certificate expires in {n} days",
        "{svc} retried {n} times {filler} but the request succeeded",
    ],
    "performance": [
        "{svc} 응답 시간이 {ms}ms로 평소보다 {n}배 느립니다",
        "{filler} {svc} 처리량이 초당 {n}건으로 떨어졌습니다",
        "{svc} CPU 사용률 {pct}%, 지연 시간 p95 {ms}ms",
        "{svc} 캐시 적중률이 {pct}%로 낮아 쿼리가 느려졌습니다",
        "{svc} latency p95 rose to {ms}ms {filler}",
        "{svc} throughput dropped to {n} requests per second",
        "slow query on {svc} took {ms}ms, cache hit rate {pct}%",
    ],
    "security": [
        "{svc}에 {n}회 로그인 실패 후 계정이 잠겼습니다",
        "{filler} {svc}에서 허용되지 않은 IP의 접근 시도가 차단되었습니다",
        "{svc} API 키가 유출된 것으로 의심되어 폐기했습니다",
        "{svc} 권한 없는 사용자가 관리자 페이지에 접근을 시도했습니다",
        "{n} failed login attempts on {svc}, account locked",
        "blocked access to {svc} from an unknown IP {filler}",
        "{svc} API key suspected leaked and revoked",
    ],
    "deployment": [
        "{svc} 버전 {ver} 배포가 완료되었습니다",
        "{filler} {svc} 롤백을 진행해 버전 {ver}으로 되돌렸습니다",
        "{svc} 설정 변경을 반영하고 재시작했습니다",
        "{svc} 카나리 배포 {pct}% 진행 중",
        "deployed {svc} version {ver} {filler}",
        "rolled {svc} back to {ver} after the release",
        "{svc} canary rollout at {pct}%",
    ],
    "experiment": [
        "실험 {n}번: 학습률 {lr}로 정확도 {pct}% 달성",
        "{filler} 모델 학습을 {n} 에폭 진행했고 손실이 {loss}로 줄었습니다",
        "논문 재현 실험에서 F1 {loss} 기록, 배치 크기 {n}",
        "하이퍼파라미터 탐색 {n}회차, 검증 손실 {loss}",
        "run {n}: learning rate {lr}, accuracy {pct}%",
        "trained for {n} epochs {filler}, validation loss {loss}",
        "ablation without dropout: F1 {loss} on the held-out set",
    ],
}
# Labels whose logs read alike, and the short hints that tell them apart
# when a log borrows the wording of its neighbour.
CONFUSABLE = {
    "error": ("warning", "performance"),
    "warning": ("error", "performance", "security"),
    "performance": ("warning", "experiment"),
    "security": ("warning", "error"),
    "deployment": ("warning", "experiment"),
    "experiment": ("performance", "deployment"),
}
HINTS = {
    "error": (
        ["장애가 발생함", "결국 실패로 끝남", "서비스가 중단됨"],
        ["outage", "it ended in failure", "service down"],
    ),
    "warning": (
        ["아직 장애는 아님", "주의가 필요함", "곧 조치 예정"],
        ["not an outage yet", "needs attention", "action planned"],
    ),
    "performance": (
        ["성능 저하", "속도가 문제", "지연이 늘어남"],
        ["degraded speed", "slowness is the issue", "latency growing"],
    ),
    "security": (
        ["보안 점검 대상", "침해 의심", "접근 통제 필요"],
        ["security review", "possible breach", "access control"],
    ),
    "deployment": (
        ["릴리스 작업 중", "배포 창에서 진행", "변경 관리 건"],
        ["release work", "in the deploy window", "change ticket"],
    ),
    "experiment": (
        ["연구용 실행", "실험 노트에 기록", "재현 실험"],
        ["research run", "noted in the lab log", "reproduction run"],
    ),
}
# Sentences that belong to no label in particular, appended at random: they
# make texts longer and share words across labels.
NOISE_KO = [
    "담당자 확인이 필요합니다",
    "대시보드에서 확인하세요",
    "관련 로그를 첨부합니다",
    "원인은 조사 중입니다",
    "모니터링을 계속합니다",
]
NOISE_EN = [
    "please check the dashboard",
    "logs attached",
    "root cause under investigation",
    "keep monitoring",
    "owner notified",
]


def _fill(template: str, rng: random.Random) -> str:
    english = template.isascii() or not any("\uac00" <= ch <= "\ud7a3" for ch in template)
    return template.format(
        svc=rng.choice(SERVICES),
        filler=rng.choice(FILLER_EN if english else FILLER_KO),
        code=rng.choice([500, 502, 503, 504, 400, 404]),
        n=rng.randint(2, 120),
        pct=rng.randint(5, 99),
        ms=rng.randint(80, 9000),
        ver=f"{rng.randint(1, 9)}.{rng.randint(0, 30)}.{rng.randint(0, 9)}",
        lr=rng.choice(["0.001", "3e-4", "0.01", "1e-5"]),
        loss=f"{rng.random():.3f}",
    ), english


def examples(n: int, *, seed: int = 7, label_noise: float = 0.05, borrowed: float = 0.3) -> list[tuple[str, str]]:
    """n (text, label) pairs. `borrowed` of them use the wording of a
    confusable label with a short hint of their own; `label_noise` of them
    carry a random wrong label."""
    rng = random.Random(seed)  # noqa: S311 (reproducible data, not a secret)
    out = []
    for _ in range(n):
        label = rng.choice(LABELS)
        if rng.random() < borrowed:
            text, english = _fill(rng.choice(TEMPLATES[rng.choice(CONFUSABLE[label])]), rng)
            korean, english_hints = HINTS[label]
            text = f"{text}, {rng.choice(english_hints if english else korean)}"
        else:
            text, english = _fill(rng.choice(TEMPLATES[label]), rng)
        if rng.random() < 0.5:
            text = f"{text}. {rng.choice(NOISE_EN if english else NOISE_KO)}"
        if rng.random() < label_noise:
            label = rng.choice([other for other in LABELS if other != label])
        out.append((text, label))
    return out
