"""The dashboard's words in Korean (the default) and English; a missing Korean label falls back to English."""

LANGS = ("ko", "en")

EN = {
    "app": "Ad-creative pipeline", "jobs": "Jobs", "review": "Review", "login": "Log in", "logout": "Log out",
    "password": "API key or dashboard password", "login_title": "Log in to the dashboard",
    "login_failed": "Wrong key or password.", "login_needed": "This page needs a login.",
    "no_login": "No API_KEY or DASHBOARD_PASSWORD is set: nothing to log in with.",
    "tenant_only": "tenant", "search": "Search", "search_hint": "store, tenant or job id",
    "status": "Status", "outcome": "Outcome", "all": "all", "store": "Store", "thumbnail": "Creative",
    "job": "Job", "tenant": "Tenant", "step": "Step", "progress": "Progress", "variants_finished": "Variants finished",
    "created": "Created", "updated": "Updated", "next_page": "Older jobs →", "first_page": "← Newest",
    "no_jobs": "No jobs.", "done": "posted", "failed": "failed", "cancelled": "cancelled", "in_progress": "in progress",
    "variants": "Candidates", "variant": "Variant", "original": "Original", "overlaid": "With copy",
    "selected": "SELECTED", "judge_score": "Judge score", "why": "Why", "not_rendered": "not rendered yet",
    "no_image": "no image yet", "korean_copy": "Korean copy", "english_copy": "English copy",
    "refined_copy": "Refined English copy", "post": "Instagram post", "not_written": "Not written yet.",
    "engineering": "Engineering detail (stages, evaluations, timings)", "timeline": "Timeline",
    "actions": "Actions", "retry": "Retry what failed", "cancel": "Cancel", "rerun": "Re-run from step",
    "select": "Choose this variant", "download": "Download image", "bundle": "Download bundle (zip)",
    "confirm_title": "Please confirm", "confirm": "Yes, do it", "back": "Back",
    "confirm_retry": "Retry every failed stage of this job?", "confirm_cancel": "Cancel this job? It will not run again.",
    "confirm_rerun": "Re-run from this step? Results from this step on are replaced.",
    "confirm_select": "Use this variant for the post? The post is written again for it.",
    "done_ok": "Done", "done_failed": "Refused", "likes": "likes", "read_only": "read-only (tenant key)",
    "job_stages": "Job stages", "english": "English", "korean": "한국어", "utc_hover": "times in {tz}, UTC on hover",
    "who": "Logged in", "all_tenants": "all tenants",
}

KO = {
    "app": "광고 소재 파이프라인", "jobs": "작업 목록", "review": "검토", "login": "로그인", "logout": "로그아웃",
    "password": "API 키 또는 대시보드 비밀번호", "login_title": "대시보드 로그인",
    "login_failed": "키 또는 비밀번호가 틀렸습니다.", "login_needed": "이 페이지는 로그인이 필요합니다.",
    "no_login": "API_KEY 또는 DASHBOARD_PASSWORD가 설정되지 않아 로그인할 수 없습니다.",
    "tenant_only": "테넌트", "search": "검색", "search_hint": "매장, 테넌트 또는 작업 ID",
    "status": "상태", "outcome": "결과", "all": "전체", "store": "매장", "thumbnail": "소재",
    "job": "작업", "tenant": "테넌트", "step": "단계", "progress": "진행률", "variants_finished": "완료된 후보",
    "created": "생성", "updated": "수정", "next_page": "이전 작업 →", "first_page": "← 최신",
    "no_jobs": "작업이 없습니다.", "done": "게시물 완료", "failed": "실패", "cancelled": "취소됨", "in_progress": "진행 중",
    "variants": "후보 비교", "variant": "후보", "original": "원본", "overlaid": "문구 합성",
    "selected": "선택됨", "judge_score": "심사 점수", "why": "이유", "not_rendered": "아직 합성 전",
    "no_image": "이미지 없음", "korean_copy": "한국어 문구", "english_copy": "영어 문구",
    "refined_copy": "다듬은 영어 문구", "post": "인스타그램 게시물", "not_written": "아직 작성되지 않았습니다.",
    "engineering": "엔지니어링 상세 (단계, 평가, 소요 시간)", "timeline": "타임라인",
    "actions": "작업 제어", "retry": "실패한 단계 재시도", "cancel": "취소", "rerun": "단계부터 다시 실행",
    "select": "이 후보 선택", "download": "이미지 다운로드", "bundle": "묶음 다운로드 (zip)",
    "confirm_title": "확인해 주세요", "confirm": "예, 실행합니다", "back": "돌아가기",
    "confirm_retry": "이 작업의 실패한 단계를 모두 재시도할까요?",
    "confirm_cancel": "이 작업을 취소할까요? 다시 실행되지 않습니다.",
    "confirm_rerun": "이 단계부터 다시 실행할까요? 이 단계 이후의 결과가 교체됩니다.",
    "confirm_select": "이 후보로 게시물을 만들까요? 게시물이 다시 작성됩니다.",
    "done_ok": "완료", "done_failed": "거절됨", "likes": "좋아요", "read_only": "읽기 전용 (테넌트 키)",
    "job_stages": "작업 단계", "english": "English", "korean": "한국어", "utc_hover": "{tz} 기준 시각, 마우스를 올리면 UTC",
    "who": "로그인", "all_tenants": "모든 테넌트",
}

LABELS = {"en": EN, "ko": KO}
