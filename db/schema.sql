-- What db/migrations build (pg_dump --schema-only, normalised). Generated: python -m scripts.schema_snapshot

--
-- Name: uuid-ossp; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS "uuid-ossp" WITH SCHEMA public;

--
-- Name: EXTENSION "uuid-ossp"; Type: COMMENT; Schema: -; Owner: -
--

COMMENT ON EXTENSION "uuid-ossp" IS 'generate universally unique identifiers (UUIDs)';

--
-- Name: job_outcome(text, text, timestamp with time zone, timestamp with time zone); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.job_outcome(step text, status text, next_retry_at timestamp with time zone, cancelled_at timestamp with time zone) RETURNS text
    LANGUAGE sql IMMUTABLE
    AS $$
    SELECT CASE WHEN cancelled_at IS NOT NULL THEN 'cancelled'
                WHEN step = 'instagram_feed_gen' AND status = 'done' THEN 'done'
                WHEN status = 'failed' AND next_retry_at IS NULL
                     AND step IN ('iou_eval', 'ad_copy_gen_kor', 'instagram_feed_gen') THEN 'failed' END
$$;

--
-- Name: notify_ad_copy_ready(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.notify_ad_copy_ready() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE v RECORD;
BEGIN
    IF NEW.generation_stage = 'ad_copy_eng' AND NEW.status = 'done'
       AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM NEW.status) THEN
        FOR v IN SELECT jv.job_variants_id, jv.img_asset_id, jv.updated_at, j.tenant_id
                 FROM jobs_variants jv JOIN jobs j USING (job_id)
                 WHERE jv.job_id = NEW.job_id AND jv.current_step = 'img_gen' AND jv.status = 'done' LOOP
            PERFORM pg_notify('job_variant_state_changed', json_build_object(
                'type', 'text_ready',
                'job_variants_id', v.job_variants_id,
                'job_id', NEW.job_id,
                'tenant_id', v.tenant_id,
                'current_step', 'img_gen',
                'status', 'done',
                'img_asset_id', v.img_asset_id,
                'updated_at', v.updated_at)::text);
        END LOOP;
    END IF;
    RETURN NEW;
END;
$$;

--
-- Name: notify_job_state_change(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.notify_job_state_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('job_state_changed', json_build_object(
            'type', 'job_state',
            'job_id', NEW.job_id,
            'tenant_id', NEW.tenant_id,
            'current_step', NEW.current_step,
            'status', NEW.status)::text);
    END IF;
    RETURN NEW;
END;
$$;

--
-- Name: notify_job_variant_state_change(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.notify_job_variant_state_change() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF TG_OP = 'INSERT' OR OLD.current_step IS DISTINCT FROM NEW.current_step
       OR OLD.status IS DISTINCT FROM NEW.status THEN
        PERFORM pg_notify('job_variant_state_changed', json_build_object(
            'type', 'variant_state',
            'job_variants_id', NEW.job_variants_id,
            'job_id', NEW.job_id,
            'tenant_id', (SELECT tenant_id FROM jobs WHERE job_id = NEW.job_id),
            'current_step', NEW.current_step,
            'status', NEW.status,
            'img_asset_id', NEW.img_asset_id,
            'updated_at', NEW.updated_at)::text);
    END IF;
    RETURN NEW;
END;
$$;

--
-- Name: provider_acquire(text, integer, integer, integer, double precision, double precision); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.provider_acquire(p_provider text, p_rpm integer, p_tpm integer, p_tokens integer, p_window double precision, p_margin double precision, OUT call_id bigint, OUT wait_seconds double precision) RETURNS record
    LANGUAGE plpgsql
    AS $$
DECLARE
    now_ TIMESTAMPTZ := clock_timestamp();
    lim provider_limits%ROWTYPE;
    span INTERVAL := make_interval(secs => p_window + p_margin);
    f DOUBLE PRECISION;
    n INTEGER;
    used BIGINT;
    eff_rpm INTEGER;
    eff_tpm BIGINT;
    free_at TIMESTAMPTZ;
BEGIN
    PERFORM pg_advisory_xact_lock(7300026, hashtext(p_provider));
    INSERT INTO provider_limits (provider) VALUES (p_provider) ON CONFLICT (provider) DO NOTHING;
    SELECT * INTO lim FROM provider_limits l WHERE l.provider = p_provider;
    IF lim.blocked_until IS NOT NULL AND lim.blocked_until > now_ THEN
        wait_seconds := EXTRACT(EPOCH FROM lim.blocked_until - now_);
        RETURN;
    END IF;
    f := CASE WHEN lim.shrunk_until > now_ THEN lim.factor ELSE 1.0 END;
    DELETE FROM provider_calls c WHERE c.provider = p_provider AND c.at <= now_ - span;
    SELECT count(*), coalesce(sum(c.tokens), 0) INTO n, used FROM provider_calls c WHERE c.provider = p_provider;
    eff_rpm := CASE WHEN p_rpm > 0 THEN greatest(1, floor(p_rpm * f)::INTEGER) END;
    eff_tpm := CASE WHEN p_tpm > 0 THEN greatest(1, floor(p_tpm * f)::BIGINT) END;
    IF (eff_rpm IS NULL OR n < eff_rpm) AND (eff_tpm IS NULL OR n = 0 OR used + p_tokens <= eff_tpm) THEN
        INSERT INTO provider_calls (provider, at, tokens) VALUES (p_provider, now_, p_tokens)
        RETURNING provider_calls.call_id INTO call_id;
        wait_seconds := 0;
        RETURN;
    END IF;
    -- The first call whose leaving frees enough: the (n - eff_rpm + 1)-th oldest for requests, and the one
    -- after which the tokens left fit for tokens.
    SELECT x.at INTO free_at FROM (
        SELECT c.at, row_number() OVER w AS rn, sum(c.tokens) OVER w AS freed
        FROM provider_calls c WHERE c.provider = p_provider
        WINDOW w AS (ORDER BY c.at, c.call_id)) x
    WHERE (eff_rpm IS NULL OR x.rn >= n - eff_rpm + 1)
      AND (eff_tpm IS NULL OR used - x.freed + p_tokens <= eff_tpm OR x.rn = n)
    ORDER BY x.at LIMIT 1;
    wait_seconds := greatest(0.01, EXTRACT(EPOCH FROM coalesce(free_at, now_) + span - now_));
END $$;

--
-- Name: record_job_finished(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.record_job_finished() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE
    j RECORD;
    chosen RECORD;
    feed UUID;
    outcome TEXT;
    body JSONB;
    inserted UUID;
BEGIN
    SELECT job_id, tenant_id, current_step, status, next_retry_at, cancelled_at, cancel_reason, last_error
    INTO j FROM jobs WHERE job_id = NEW.job_id;
    outcome := job_outcome(j.current_step, j.status, j.next_retry_at, j.cancelled_at);
    IF outcome IS NULL THEN  -- changed again later in the same transaction: not final at commit
        RETURN NULL;
    END IF;
    SELECT v.job_variants_id, a.image_url INTO chosen FROM jobs_variants v
    LEFT JOIN image_assets a ON a.image_asset_id = v.overlaid_img_asset_id
    WHERE v.job_id = j.job_id AND v.selected ORDER BY v.creation_order LIMIT 1;
    SELECT instagram_feed_id INTO feed FROM instagram_feeds WHERE job_id = j.job_id
    ORDER BY created_at DESC, pk DESC LIMIT 1;
    inserted := uuid_generate_v4();
    body := jsonb_build_object(
        'type', 'job_finished', 'delivery_id', inserted, 'job_id', j.job_id, 'tenant_id', j.tenant_id,
        'outcome', outcome, 'current_step', j.current_step, 'status', j.status,
        'selected_variant_id', chosen.job_variants_id, 'overlaid_image_url', chosen.image_url,
        'instagram_feed_id', feed,
        'reason', CASE WHEN outcome = 'done' THEN NULL ELSE left(coalesce(j.cancel_reason, j.last_error), 500) END,
        'finished_at', clock_timestamp());
    INSERT INTO job_outbox (delivery_id, job_id, tenant_id, outcome, payload, txid)
    VALUES (inserted, j.job_id, j.tenant_id, outcome, body, txid_current())
    ON CONFLICT (job_id, txid) DO NOTHING RETURNING delivery_id INTO inserted;
    IF inserted IS NOT NULL THEN  -- NOTIFY is sent at commit too: a listener never sees a rolled-back one
        PERFORM pg_notify('job_finished', body::text);
    END IF;
    RETURN NULL;
END;
$$;

--
-- Name: start_gate_at_commit(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.start_gate_at_commit() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
DECLARE v RECORD;
BEGIN
    PERFORM pg_advisory_xact_lock(7300016);
    IF TG_TABLE_NAME = 'txt_ad_copy_generations' THEN
        -- A fresh snapshot (after the lock): it sees a variant that committed while we waited.
        FOR v IN SELECT jv.job_variants_id, jv.img_asset_id, jv.updated_at, j.tenant_id
                 FROM jobs_variants jv JOIN jobs j USING (job_id)
                 WHERE jv.job_id = NEW.job_id AND jv.current_step = 'img_gen' AND jv.status = 'done' LOOP
            -- The same payload as ad_copy_ready_trigger's (0004): PostgreSQL sends identical ones once.
            PERFORM pg_notify('job_variant_state_changed', json_build_object(
                'type', 'text_ready',
                'job_variants_id', v.job_variants_id,
                'job_id', NEW.job_id,
                'tenant_id', v.tenant_id,
                'current_step', 'img_gen',
                'status', 'done',
                'img_asset_id', v.img_asset_id,
                'updated_at', v.updated_at)::text);
        END LOOP;
    END IF;
    RETURN NULL;
END;
$$;

--
-- Name: supersede_rewound_run(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.supersede_rewound_run() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF OLD.run_token IS NOT NULL AND NEW.run_token IS NOT DISTINCT FROM OLD.run_token
       AND NEW.current_step IS DISTINCT FROM OLD.current_step THEN
        UPDATE stage_runs SET status = 'superseded', finished_at = clock_timestamp(),
            error = format('rewound to (%s, %s) by another writer', NEW.current_step, NEW.status)
        WHERE run_token = OLD.run_token AND status = 'running';
        NEW.run_token := NULL;
        NEW.lease_until := NULL;
        NEW.next_retry_at := NULL;
    END IF;
    RETURN NEW;
END;
$$;

--
-- Name: touch_updated_at(); Type: FUNCTION; Schema: public; Owner: -
--

CREATE FUNCTION public.touch_updated_at() RETURNS trigger
    LANGUAGE plpgsql
    AS $$
BEGIN
    IF NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at THEN
        NEW.updated_at := CURRENT_TIMESTAMP;
    END IF;
    RETURN NEW;
END;
$$;

--
-- Name: dashboard_sessions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.dashboard_sessions (
    session_hash text NOT NULL,
    tenant_id text,
    login_via text NOT NULL,
    csrf_token text NOT NULL,
    created_at timestamp with time zone DEFAULT now() NOT NULL,
    expires_at timestamp with time zone NOT NULL,
    revoked_at timestamp with time zone
);

--
-- Name: detections; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.detections (
    pk integer NOT NULL,
    detection_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    image_asset_id uuid,
    model_id uuid,
    job_id uuid,
    box jsonb,
    label character varying(255),
    score numeric(5,4),
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    job_variants_id uuid
);

--
-- Name: detections_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.detections_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: detections_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.detections_pk_seq OWNED BY public.detections.pk;

--
-- Name: evaluations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.evaluations (
    pk integer NOT NULL,
    evaluation_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    overlay_id uuid,
    evaluation_type character varying(50) NOT NULL,
    metrics jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    dedup_slot smallint DEFAULT 1
);

--
-- Name: COLUMN evaluations.dedup_slot; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.evaluations.dedup_slot IS 'NULL: written before migration 0004 (may be a duplicate); 1: unique per (overlay, type)';

--
-- Name: evaluations_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.evaluations_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: evaluations_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.evaluations_pk_seq OWNED BY public.evaluations.pk;

--
-- Name: image_assets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.image_assets (
    pk integer NOT NULL,
    image_asset_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    image_type character varying(50),
    image_url text NOT NULL,
    mask_url text,
    width integer,
    height integer,
    creator_id uuid,
    tenant_id character varying(255),
    job_id uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: image_assets_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.image_assets_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: image_assets_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.image_assets_pk_seq OWNED BY public.image_assets.pk;

--
-- Name: instagram_feeds; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.instagram_feeds (
    pk integer NOT NULL,
    instagram_feed_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    llm_trace_id uuid,
    overlay_id uuid,
    tenant_id character varying(255) NOT NULL,
    refined_ad_copy_eng text NOT NULL,
    ad_copy_kor text,
    tone_style text NOT NULL,
    product_description text NOT NULL,
    gpt_prompt text NOT NULL,
    instagram_ad_copy text NOT NULL,
    hashtags text NOT NULL,
    used_temperature double precision,
    used_max_tokens integer,
    latency_ms double precision,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    dedup_slot smallint DEFAULT 1
);

--
-- Name: COLUMN instagram_feeds.dedup_slot; Type: COMMENT; Schema: public; Owner: -
--

COMMENT ON COLUMN public.instagram_feeds.dedup_slot IS 'NULL: written before migration 0004 (may be a duplicate); 1: unique per job';

--
-- Name: instagram_feeds_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.instagram_feeds_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: instagram_feeds_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.instagram_feeds_pk_seq OWNED BY public.instagram_feeds.pk;

--
-- Name: job_inputs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_inputs (
    pk integer NOT NULL,
    job_id uuid NOT NULL,
    img_asset_id uuid,
    tone_style_id uuid,
    desc_kor text,
    desc_eng text,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: job_inputs_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.job_inputs_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: job_inputs_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.job_inputs_pk_seq OWNED BY public.job_inputs.pk;

--
-- Name: job_outbox; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_outbox (
    delivery_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    pk bigint NOT NULL,
    job_id uuid NOT NULL,
    tenant_id text,
    outcome text NOT NULL,
    payload jsonb NOT NULL,
    txid bigint NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    attempts integer DEFAULT 0 NOT NULL,
    next_attempt_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    lease_until timestamp with time zone,
    delivered_at timestamp with time zone,
    gave_up_at timestamp with time zone,
    last_status integer,
    last_error text
);

--
-- Name: job_outbox_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.job_outbox_pk_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: job_outbox_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.job_outbox_pk_seq OWNED BY public.job_outbox.pk;

--
-- Name: job_priorities; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.job_priorities (
    job_id uuid NOT NULL,
    priority text NOT NULL,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    CONSTRAINT job_priorities_priority_check CHECK ((priority = ANY (ARRAY['urgent'::text, 'normal'::text])))
);

--
-- Name: jobs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.jobs (
    pk integer NOT NULL,
    job_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    tenant_id character varying(255),
    store_id uuid,
    status text DEFAULT 'queued'::text,
    current_step text,
    version text,
    retry_count integer DEFAULT 0,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    run_token uuid,
    lease_until timestamp with time zone,
    next_retry_at timestamp with time zone,
    last_error text,
    cancelled_at timestamp with time zone,
    cancel_reason text
);

--
-- Name: jobs_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.jobs_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: jobs_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.jobs_pk_seq OWNED BY public.jobs.pk;

--
-- Name: jobs_variants; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.jobs_variants (
    pk integer NOT NULL,
    job_variants_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    img_asset_id uuid,
    creation_order integer NOT NULL,
    selected boolean DEFAULT false,
    status text DEFAULT 'queued'::text,
    current_step text,
    retry_count integer DEFAULT 0,
    overlaid_img_asset_id uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    run_token uuid,
    lease_until timestamp with time zone,
    next_retry_at timestamp with time zone,
    last_error text,
    cancelled_at timestamp with time zone,
    cancel_reason text
);

--
-- Name: jobs_variants_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.jobs_variants_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: jobs_variants_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.jobs_variants_pk_seq OWNED BY public.jobs_variants.pk;

--
-- Name: llm_models; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.llm_models (
    pk integer NOT NULL,
    llm_model_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    model_name character varying(255) NOT NULL,
    model_version character varying(255),
    provider character varying(255) NOT NULL,
    default_temperature double precision,
    default_max_tokens integer,
    prompt_token_cost_per_1m double precision,
    completion_token_cost_per_1m double precision,
    description text,
    is_active character varying(10) DEFAULT 'true'::character varying,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: llm_models_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.llm_models_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: llm_models_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.llm_models_pk_seq OWNED BY public.llm_models.pk;

--
-- Name: llm_traces; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.llm_traces (
    pk integer NOT NULL,
    llm_trace_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    provider text,
    llm_model_id uuid,
    tone_style_id uuid,
    enhanced_img_id uuid,
    prompt_id uuid,
    operation_type text,
    request jsonb,
    response jsonb,
    latency_ms double precision,
    prompt_tokens integer,
    completion_tokens integer,
    total_tokens integer,
    token_usage jsonb,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: llm_traces_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.llm_traces_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: llm_traces_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.llm_traces_pk_seq OWNED BY public.llm_traces.pk;

--
-- Name: operator_actions; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.operator_actions (
    action_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    pk bigint NOT NULL,
    job_id uuid NOT NULL,
    job_variants_id uuid,
    action text NOT NULL,
    params jsonb DEFAULT '{}'::jsonb NOT NULL,
    actor text NOT NULL,
    via text NOT NULL,
    result jsonb DEFAULT '{}'::jsonb NOT NULL,
    created_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

--
-- Name: operator_actions_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.operator_actions_pk_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: operator_actions_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.operator_actions_pk_seq OWNED BY public.operator_actions.pk;

--
-- Name: overlay_layouts; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.overlay_layouts (
    pk integer NOT NULL,
    overlay_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    proposal_id uuid,
    job_variants_id uuid,
    layout jsonb,
    x_ratio numeric(5,4),
    y_ratio numeric(5,4),
    width_ratio numeric(5,4),
    height_ratio numeric(5,4),
    text_margin character varying(50),
    latency_ms double precision,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: overlay_layouts_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.overlay_layouts_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: overlay_layouts_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.overlay_layouts_pk_seq OWNED BY public.overlay_layouts.pk;

--
-- Name: planner_proposals; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.planner_proposals (
    pk integer NOT NULL,
    proposal_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    image_asset_id uuid,
    prompt text,
    layout jsonb,
    latency_ms double precision,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    job_variants_id uuid
);

--
-- Name: planner_proposals_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.planner_proposals_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: planner_proposals_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.planner_proposals_pk_seq OWNED BY public.planner_proposals.pk;

--
-- Name: provider_calls; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.provider_calls (
    call_id bigint NOT NULL,
    provider text NOT NULL,
    at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    tokens integer DEFAULT 0 NOT NULL
);

--
-- Name: provider_calls_call_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.provider_calls_call_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: provider_calls_call_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.provider_calls_call_id_seq OWNED BY public.provider_calls.call_id;

--
-- Name: provider_limits; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.provider_limits (
    provider text NOT NULL,
    factor double precision DEFAULT 1.0 NOT NULL,
    shrunk_until timestamp with time zone,
    blocked_until timestamp with time zone,
    throttled_total bigint DEFAULT 0 NOT NULL,
    updated_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL
);

--
-- Name: renders; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.renders (
    pk integer NOT NULL,
    render_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    overlay_id uuid,
    image_asset_id uuid,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    format text
);

--
-- Name: renders_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.renders_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: renders_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.renders_pk_seq OWNED BY public.renders.pk;

--
-- Name: service_migrations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.service_migrations (
    version integer NOT NULL,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    notes text
);

--
-- Name: service_replicas; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.service_replicas (
    instance_id text NOT NULL,
    worker text NOT NULL,
    stages text[] NOT NULL,
    started_at timestamp with time zone DEFAULT now() NOT NULL,
    heartbeat_at timestamp with time zone DEFAULT now() NOT NULL
);

--
-- Name: stage_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stage_runs (
    run_id bigint NOT NULL,
    run_token uuid NOT NULL,
    job_id uuid NOT NULL,
    job_variants_id uuid,
    step text NOT NULL,
    attempt integer NOT NULL,
    status text DEFAULT 'running'::text NOT NULL,
    error text,
    worker text,
    started_at timestamp with time zone DEFAULT clock_timestamp() NOT NULL,
    finished_at timestamp with time zone
);

--
-- Name: stage_runs_run_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.stage_runs_run_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: stage_runs_run_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.stage_runs_run_id_seq OWNED BY public.stage_runs.run_id;

--
-- Name: stores; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.stores (
    pk integer NOT NULL,
    store_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    user_id uuid,
    image_id uuid,
    title character varying(500),
    body text,
    store_category text,
    auto_scoring_flag boolean DEFAULT false,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: stores_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.stores_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: stores_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.stores_pk_seq OWNED BY public.stores.pk;

--
-- Name: tenants; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tenants (
    pk integer NOT NULL,
    tenant_id character varying(255) NOT NULL,
    display_name character varying(255),
    uid character varying(255),
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: tenants_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tenants_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tenants_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tenants_pk_seq OWNED BY public.tenants.pk;

--
-- Name: tone_styles; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.tone_styles (
    pk integer NOT NULL,
    tone_style_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    code text,
    kor_name text,
    eng_name text,
    description text,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: tone_styles_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.tone_styles_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: tone_styles_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.tone_styles_pk_seq OWNED BY public.tone_styles.pk;

--
-- Name: txt_ad_copy_generations; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.txt_ad_copy_generations (
    pk integer NOT NULL,
    ad_copy_gen_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid NOT NULL,
    llm_trace_id uuid,
    generation_stage text NOT NULL,
    ad_copy_kor text,
    ad_copy_eng text,
    refined_ad_copy_eng text,
    status text DEFAULT 'queued'::text,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: txt_ad_copy_generations_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.txt_ad_copy_generations_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: txt_ad_copy_generations_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.txt_ad_copy_generations_pk_seq OWNED BY public.txt_ad_copy_generations.pk;

--
-- Name: users; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.users (
    pk integer NOT NULL,
    user_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    uid character varying(255),
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: users_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.users_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: users_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.users_pk_seq OWNED BY public.users.pk;

--
-- Name: vlm_prompt_assets; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vlm_prompt_assets (
    pk integer NOT NULL,
    prompt_asset_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    prompt_type text,
    prompt_version text,
    prompt jsonb,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: vlm_prompt_assets_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.vlm_prompt_assets_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: vlm_prompt_assets_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.vlm_prompt_assets_pk_seq OWNED BY public.vlm_prompt_assets.pk;

--
-- Name: vlm_traces; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.vlm_traces (
    pk integer NOT NULL,
    vlm_trace_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    job_variants_id uuid,
    provider text,
    prompt_id uuid,
    operation_type text,
    request jsonb,
    response jsonb,
    latency_ms double precision,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP
);

--
-- Name: vlm_traces_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.vlm_traces_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: vlm_traces_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.vlm_traces_pk_seq OWNED BY public.vlm_traces.pk;

--
-- Name: yolo_runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.yolo_runs (
    pk integer NOT NULL,
    yolo_run_id uuid DEFAULT public.uuid_generate_v4() NOT NULL,
    job_id uuid,
    image_asset_id uuid,
    forbidden_mask_url text,
    model_name character varying(255),
    detection_count integer DEFAULT 0,
    latency_ms double precision,
    created_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    updated_at timestamp with time zone DEFAULT CURRENT_TIMESTAMP,
    job_variants_id uuid
);

--
-- Name: yolo_runs_pk_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.yolo_runs_pk_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;

--
-- Name: yolo_runs_pk_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.yolo_runs_pk_seq OWNED BY public.yolo_runs.pk;

--
-- Name: detections pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.detections ALTER COLUMN pk SET DEFAULT nextval('public.detections_pk_seq'::regclass);

--
-- Name: evaluations pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.evaluations ALTER COLUMN pk SET DEFAULT nextval('public.evaluations_pk_seq'::regclass);

--
-- Name: image_assets pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.image_assets ALTER COLUMN pk SET DEFAULT nextval('public.image_assets_pk_seq'::regclass);

--
-- Name: instagram_feeds pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instagram_feeds ALTER COLUMN pk SET DEFAULT nextval('public.instagram_feeds_pk_seq'::regclass);

--
-- Name: job_inputs pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_inputs ALTER COLUMN pk SET DEFAULT nextval('public.job_inputs_pk_seq'::regclass);

--
-- Name: job_outbox pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_outbox ALTER COLUMN pk SET DEFAULT nextval('public.job_outbox_pk_seq'::regclass);

--
-- Name: jobs pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs ALTER COLUMN pk SET DEFAULT nextval('public.jobs_pk_seq'::regclass);

--
-- Name: jobs_variants pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs_variants ALTER COLUMN pk SET DEFAULT nextval('public.jobs_variants_pk_seq'::regclass);

--
-- Name: llm_models pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_models ALTER COLUMN pk SET DEFAULT nextval('public.llm_models_pk_seq'::regclass);

--
-- Name: llm_traces pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces ALTER COLUMN pk SET DEFAULT nextval('public.llm_traces_pk_seq'::regclass);

--
-- Name: operator_actions pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operator_actions ALTER COLUMN pk SET DEFAULT nextval('public.operator_actions_pk_seq'::regclass);

--
-- Name: overlay_layouts pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.overlay_layouts ALTER COLUMN pk SET DEFAULT nextval('public.overlay_layouts_pk_seq'::regclass);

--
-- Name: planner_proposals pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.planner_proposals ALTER COLUMN pk SET DEFAULT nextval('public.planner_proposals_pk_seq'::regclass);

--
-- Name: provider_calls call_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_calls ALTER COLUMN call_id SET DEFAULT nextval('public.provider_calls_call_id_seq'::regclass);

--
-- Name: renders pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.renders ALTER COLUMN pk SET DEFAULT nextval('public.renders_pk_seq'::regclass);

--
-- Name: stage_runs run_id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stage_runs ALTER COLUMN run_id SET DEFAULT nextval('public.stage_runs_run_id_seq'::regclass);

--
-- Name: stores pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stores ALTER COLUMN pk SET DEFAULT nextval('public.stores_pk_seq'::regclass);

--
-- Name: tenants pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tenants ALTER COLUMN pk SET DEFAULT nextval('public.tenants_pk_seq'::regclass);

--
-- Name: tone_styles pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tone_styles ALTER COLUMN pk SET DEFAULT nextval('public.tone_styles_pk_seq'::regclass);

--
-- Name: txt_ad_copy_generations pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.txt_ad_copy_generations ALTER COLUMN pk SET DEFAULT nextval('public.txt_ad_copy_generations_pk_seq'::regclass);

--
-- Name: users pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users ALTER COLUMN pk SET DEFAULT nextval('public.users_pk_seq'::regclass);

--
-- Name: vlm_prompt_assets pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_prompt_assets ALTER COLUMN pk SET DEFAULT nextval('public.vlm_prompt_assets_pk_seq'::regclass);

--
-- Name: vlm_traces pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_traces ALTER COLUMN pk SET DEFAULT nextval('public.vlm_traces_pk_seq'::regclass);

--
-- Name: yolo_runs pk; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.yolo_runs ALTER COLUMN pk SET DEFAULT nextval('public.yolo_runs_pk_seq'::regclass);

--
-- Name: dashboard_sessions dashboard_sessions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.dashboard_sessions
    ADD CONSTRAINT dashboard_sessions_pkey PRIMARY KEY (session_hash);

--
-- Name: detections detections_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.detections
    ADD CONSTRAINT detections_pkey PRIMARY KEY (detection_id);

--
-- Name: evaluations evaluations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.evaluations
    ADD CONSTRAINT evaluations_pkey PRIMARY KEY (evaluation_id);

--
-- Name: image_assets image_assets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.image_assets
    ADD CONSTRAINT image_assets_pkey PRIMARY KEY (image_asset_id);

--
-- Name: instagram_feeds instagram_feeds_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instagram_feeds
    ADD CONSTRAINT instagram_feeds_pkey PRIMARY KEY (instagram_feed_id);

--
-- Name: job_inputs job_inputs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_inputs
    ADD CONSTRAINT job_inputs_pkey PRIMARY KEY (job_id);

--
-- Name: job_outbox job_outbox_job_id_txid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_outbox
    ADD CONSTRAINT job_outbox_job_id_txid_key UNIQUE (job_id, txid);

--
-- Name: job_outbox job_outbox_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_outbox
    ADD CONSTRAINT job_outbox_pkey PRIMARY KEY (delivery_id);

--
-- Name: job_priorities job_priorities_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_priorities
    ADD CONSTRAINT job_priorities_pkey PRIMARY KEY (job_id);

--
-- Name: jobs jobs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_pkey PRIMARY KEY (job_id);

--
-- Name: jobs_variants jobs_variants_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs_variants
    ADD CONSTRAINT jobs_variants_pkey PRIMARY KEY (job_variants_id);

--
-- Name: llm_models llm_models_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_models
    ADD CONSTRAINT llm_models_pkey PRIMARY KEY (llm_model_id);

--
-- Name: llm_traces llm_traces_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces
    ADD CONSTRAINT llm_traces_pkey PRIMARY KEY (llm_trace_id);

--
-- Name: operator_actions operator_actions_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operator_actions
    ADD CONSTRAINT operator_actions_pkey PRIMARY KEY (action_id);

--
-- Name: overlay_layouts overlay_layouts_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.overlay_layouts
    ADD CONSTRAINT overlay_layouts_pkey PRIMARY KEY (overlay_id);

--
-- Name: planner_proposals planner_proposals_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.planner_proposals
    ADD CONSTRAINT planner_proposals_pkey PRIMARY KEY (proposal_id);

--
-- Name: provider_calls provider_calls_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_calls
    ADD CONSTRAINT provider_calls_pkey PRIMARY KEY (call_id);

--
-- Name: provider_limits provider_limits_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.provider_limits
    ADD CONSTRAINT provider_limits_pkey PRIMARY KEY (provider);

--
-- Name: renders renders_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.renders
    ADD CONSTRAINT renders_pkey PRIMARY KEY (render_id);

--
-- Name: service_migrations service_migrations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.service_migrations
    ADD CONSTRAINT service_migrations_pkey PRIMARY KEY (version);

--
-- Name: service_replicas service_replicas_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.service_replicas
    ADD CONSTRAINT service_replicas_pkey PRIMARY KEY (instance_id);

--
-- Name: stage_runs stage_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stage_runs
    ADD CONSTRAINT stage_runs_pkey PRIMARY KEY (run_id);

--
-- Name: stage_runs stage_runs_run_token_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stage_runs
    ADD CONSTRAINT stage_runs_run_token_key UNIQUE (run_token);

--
-- Name: stores stores_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stores
    ADD CONSTRAINT stores_pkey PRIMARY KEY (store_id);

--
-- Name: tenants tenants_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tenants
    ADD CONSTRAINT tenants_pkey PRIMARY KEY (tenant_id);

--
-- Name: tenants tenants_uid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tenants
    ADD CONSTRAINT tenants_uid_key UNIQUE (uid);

--
-- Name: tone_styles tone_styles_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.tone_styles
    ADD CONSTRAINT tone_styles_pkey PRIMARY KEY (tone_style_id);

--
-- Name: txt_ad_copy_generations txt_ad_copy_generations_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.txt_ad_copy_generations
    ADD CONSTRAINT txt_ad_copy_generations_pkey PRIMARY KEY (ad_copy_gen_id);

--
-- Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_pkey PRIMARY KEY (user_id);

--
-- Name: users users_uid_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.users
    ADD CONSTRAINT users_uid_key UNIQUE (uid);

--
-- Name: vlm_prompt_assets vlm_prompt_assets_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_prompt_assets
    ADD CONSTRAINT vlm_prompt_assets_pkey PRIMARY KEY (prompt_asset_id);

--
-- Name: vlm_traces vlm_traces_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_traces
    ADD CONSTRAINT vlm_traces_pkey PRIMARY KEY (vlm_trace_id);

--
-- Name: yolo_runs yolo_runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.yolo_runs
    ADD CONSTRAINT yolo_runs_pkey PRIMARY KEY (yolo_run_id);

--
-- Name: idx_detections_variant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_detections_variant ON public.detections USING btree (job_variants_id);

--
-- Name: idx_image_assets_url_hash; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_image_assets_url_hash ON public.image_assets USING hash (image_url);

--
-- Name: idx_job_outbox_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_job_outbox_job ON public.job_outbox USING btree (job_id, created_at);

--
-- Name: idx_job_outbox_pending; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_job_outbox_pending ON public.job_outbox USING btree (next_attempt_at) WHERE ((delivered_at IS NULL) AND (gave_up_at IS NULL));

--
-- Name: idx_job_priorities_urgent; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_job_priorities_urgent ON public.job_priorities USING btree (job_id) WHERE (priority = 'urgent'::text);

--
-- Name: idx_jobs_created; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_created ON public.jobs USING btree (created_at DESC);

--
-- Name: idx_jobs_created_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_created_job ON public.jobs USING btree (created_at DESC, job_id DESC);

--
-- Name: idx_jobs_done_unfinished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_done_unfinished ON public.jobs USING btree (updated_at) WHERE ((status = 'done'::text) AND (current_step <> 'instagram_feed_gen'::text));

--
-- Name: idx_jobs_not_advanced; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_not_advanced ON public.jobs USING btree (job_id) WHERE ((current_step IS NULL) OR (current_step <> ALL (ARRAY['iou_eval'::text, 'ad_copy_gen_kor'::text, 'instagram_feed_gen'::text])));

--
-- Name: idx_jobs_retry_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_retry_due ON public.jobs USING btree (next_retry_at) WHERE ((status = 'failed'::text) AND (next_retry_at IS NOT NULL));

--
-- Name: idx_jobs_running_lease; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_running_lease ON public.jobs USING btree (lease_until) WHERE (status = 'running'::text);

--
-- Name: idx_jobs_running_token; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_running_token ON public.jobs USING btree (run_token) WHERE (status = 'running'::text);

--
-- Name: idx_jobs_step_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_step_status ON public.jobs USING btree (current_step, status);

--
-- Name: idx_jobs_tenant_created_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_tenant_created_job ON public.jobs USING btree (tenant_id, created_at DESC, job_id DESC);

--
-- Name: idx_jobs_variants_current_step; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_variants_current_step ON public.jobs_variants USING btree (current_step);

--
-- Name: idx_jobs_variants_job_id_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_variants_job_id_status ON public.jobs_variants USING btree (job_id, status);

--
-- Name: idx_jobs_variants_status; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jobs_variants_status ON public.jobs_variants USING btree (status);

--
-- Name: idx_jv_done_unfinished; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_done_unfinished ON public.jobs_variants USING btree (updated_at) WHERE ((status = 'done'::text) AND (current_step <> 'iou_eval'::text));

--
-- Name: idx_jv_retry_due; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_retry_due ON public.jobs_variants USING btree (next_retry_at) WHERE ((status = 'failed'::text) AND (next_retry_at IS NOT NULL));

--
-- Name: idx_jv_running_lease; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_running_lease ON public.jobs_variants USING btree (lease_until) WHERE (status = 'running'::text);

--
-- Name: idx_jv_running_token; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_running_token ON public.jobs_variants USING btree (run_token) WHERE (status = 'running'::text);

--
-- Name: idx_jv_running_updated; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_running_updated ON public.jobs_variants USING btree (updated_at) WHERE (status = 'running'::text);

--
-- Name: idx_jv_unfinished_step; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_jv_unfinished_step ON public.jobs_variants USING btree (current_step, status) WHERE (NOT ((current_step = 'iou_eval'::text) AND (status = 'done'::text)));

--
-- Name: idx_operator_actions_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_operator_actions_job ON public.operator_actions USING btree (job_id, created_at);

--
-- Name: idx_overlays_variant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_overlays_variant ON public.overlay_layouts USING btree (job_variants_id);

--
-- Name: idx_proposals_variant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_proposals_variant ON public.planner_proposals USING btree (job_variants_id);

--
-- Name: idx_provider_calls_at; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_provider_calls_at ON public.provider_calls USING btree (provider, at);

--
-- Name: idx_renders_overlay; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_renders_overlay ON public.renders USING btree (overlay_id);

--
-- Name: idx_stage_runs_job; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_stage_runs_job ON public.stage_runs USING btree (job_id, started_at);

--
-- Name: idx_stage_runs_variant_step; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_stage_runs_variant_step ON public.stage_runs USING btree (job_variants_id, step) WHERE (job_variants_id IS NOT NULL);

--
-- Name: idx_txt_gen_job_stage; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_txt_gen_job_stage ON public.txt_ad_copy_generations USING btree (job_id, generation_stage, status);

--
-- Name: idx_vlm_traces_variant; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX idx_vlm_traces_variant ON public.vlm_traces USING btree (job_variants_id);

--
-- Name: uq_evaluations_overlay_type; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_evaluations_overlay_type ON public.evaluations USING btree (overlay_id, evaluation_type, dedup_slot);

--
-- Name: uq_instagram_feeds_job; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_instagram_feeds_job ON public.instagram_feeds USING btree (job_id, dedup_slot);

--
-- Name: uq_refined_ad_copy_per_job; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_refined_ad_copy_per_job ON public.txt_ad_copy_generations USING btree (job_id) WHERE ((generation_stage = 'refined_ad_copy'::text) AND (status = 'done'::text));

--
-- Name: uq_yolo_runs_variant; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX uq_yolo_runs_variant ON public.yolo_runs USING btree (job_variants_id);

--
-- Name: txt_ad_copy_generations ad_copy_ready_trigger; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER ad_copy_ready_trigger AFTER INSERT OR UPDATE ON public.txt_ad_copy_generations FOR EACH ROW EXECUTE FUNCTION public.notify_ad_copy_ready();

--
-- Name: jobs job_state_change_trigger; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_state_change_trigger AFTER INSERT OR UPDATE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.notify_job_state_change();

--
-- Name: jobs_variants job_variant_state_change_trigger; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER job_variant_state_change_trigger AFTER INSERT OR UPDATE ON public.jobs_variants FOR EACH ROW EXECUTE FUNCTION public.notify_job_variant_state_change();

--
-- Name: jobs jobs_finished_outbox; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER jobs_finished_outbox AFTER UPDATE ON public.jobs DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((public.job_outcome(new.current_step, new.status, new.next_retry_at, new.cancelled_at) IS NOT NULL) AND (public.job_outcome(old.current_step, old.status, old.next_retry_at, old.cancelled_at) IS NULL))) EXECUTE FUNCTION public.record_job_finished();

--
-- Name: jobs jobs_touch_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER jobs_touch_updated_at BEFORE UPDATE ON public.jobs FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();

--
-- Name: jobs_variants jobs_variants_supersede_rewound_run; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER jobs_variants_supersede_rewound_run BEFORE UPDATE ON public.jobs_variants FOR EACH ROW EXECUTE FUNCTION public.supersede_rewound_run();

--
-- Name: jobs_variants jobs_variants_touch_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER jobs_variants_touch_updated_at BEFORE UPDATE ON public.jobs_variants FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();

--
-- Name: txt_ad_copy_generations start_gate_copy_at_commit; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER start_gate_copy_at_commit AFTER INSERT OR UPDATE ON public.txt_ad_copy_generations DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((new.generation_stage = 'ad_copy_eng'::text) AND (new.status = 'done'::text))) EXECUTE FUNCTION public.start_gate_at_commit();

--
-- Name: jobs_variants start_gate_variant_at_commit; Type: TRIGGER; Schema: public; Owner: -
--

CREATE CONSTRAINT TRIGGER start_gate_variant_at_commit AFTER INSERT OR UPDATE ON public.jobs_variants DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (((new.current_step = 'img_gen'::text) AND (new.status = 'done'::text))) EXECUTE FUNCTION public.start_gate_at_commit();

--
-- Name: txt_ad_copy_generations txt_gen_touch_updated_at; Type: TRIGGER; Schema: public; Owner: -
--

CREATE TRIGGER txt_gen_touch_updated_at BEFORE UPDATE ON public.txt_ad_copy_generations FOR EACH ROW EXECUTE FUNCTION public.touch_updated_at();

--
-- Name: detections detections_image_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.detections
    ADD CONSTRAINT detections_image_asset_id_fkey FOREIGN KEY (image_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: detections detections_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.detections
    ADD CONSTRAINT detections_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: detections detections_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.detections
    ADD CONSTRAINT detections_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE CASCADE;

--
-- Name: evaluations evaluations_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.evaluations
    ADD CONSTRAINT evaluations_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: evaluations evaluations_overlay_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.evaluations
    ADD CONSTRAINT evaluations_overlay_id_fkey FOREIGN KEY (overlay_id) REFERENCES public.overlay_layouts(overlay_id);

--
-- Name: image_assets image_assets_creator_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.image_assets
    ADD CONSTRAINT image_assets_creator_id_fkey FOREIGN KEY (creator_id) REFERENCES public.users(user_id);

--
-- Name: image_assets image_assets_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.image_assets
    ADD CONSTRAINT image_assets_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: image_assets image_assets_tenant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.image_assets
    ADD CONSTRAINT image_assets_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(tenant_id);

--
-- Name: instagram_feeds instagram_feeds_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instagram_feeds
    ADD CONSTRAINT instagram_feeds_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: instagram_feeds instagram_feeds_llm_trace_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instagram_feeds
    ADD CONSTRAINT instagram_feeds_llm_trace_id_fkey FOREIGN KEY (llm_trace_id) REFERENCES public.llm_traces(llm_trace_id) ON DELETE SET NULL;

--
-- Name: instagram_feeds instagram_feeds_overlay_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.instagram_feeds
    ADD CONSTRAINT instagram_feeds_overlay_id_fkey FOREIGN KEY (overlay_id) REFERENCES public.overlay_layouts(overlay_id);

--
-- Name: job_inputs job_inputs_img_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_inputs
    ADD CONSTRAINT job_inputs_img_asset_id_fkey FOREIGN KEY (img_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: job_inputs job_inputs_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_inputs
    ADD CONSTRAINT job_inputs_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: job_inputs job_inputs_tone_style_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_inputs
    ADD CONSTRAINT job_inputs_tone_style_id_fkey FOREIGN KEY (tone_style_id) REFERENCES public.tone_styles(tone_style_id);

--
-- Name: job_outbox job_outbox_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_outbox
    ADD CONSTRAINT job_outbox_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id) ON DELETE CASCADE;

--
-- Name: job_priorities job_priorities_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.job_priorities
    ADD CONSTRAINT job_priorities_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id) ON DELETE CASCADE;

--
-- Name: jobs jobs_store_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_store_id_fkey FOREIGN KEY (store_id) REFERENCES public.stores(store_id);

--
-- Name: jobs jobs_tenant_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs
    ADD CONSTRAINT jobs_tenant_id_fkey FOREIGN KEY (tenant_id) REFERENCES public.tenants(tenant_id);

--
-- Name: jobs_variants jobs_variants_img_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs_variants
    ADD CONSTRAINT jobs_variants_img_asset_id_fkey FOREIGN KEY (img_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: jobs_variants jobs_variants_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs_variants
    ADD CONSTRAINT jobs_variants_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: jobs_variants jobs_variants_overlaid_img_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.jobs_variants
    ADD CONSTRAINT jobs_variants_overlaid_img_asset_id_fkey FOREIGN KEY (overlaid_img_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: llm_traces llm_traces_enhanced_img_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces
    ADD CONSTRAINT llm_traces_enhanced_img_id_fkey FOREIGN KEY (enhanced_img_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: llm_traces llm_traces_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces
    ADD CONSTRAINT llm_traces_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: llm_traces llm_traces_llm_model_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces
    ADD CONSTRAINT llm_traces_llm_model_id_fkey FOREIGN KEY (llm_model_id) REFERENCES public.llm_models(llm_model_id) ON DELETE SET NULL;

--
-- Name: llm_traces llm_traces_tone_style_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.llm_traces
    ADD CONSTRAINT llm_traces_tone_style_id_fkey FOREIGN KEY (tone_style_id) REFERENCES public.tone_styles(tone_style_id);

--
-- Name: operator_actions operator_actions_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operator_actions
    ADD CONSTRAINT operator_actions_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id) ON DELETE CASCADE;

--
-- Name: operator_actions operator_actions_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.operator_actions
    ADD CONSTRAINT operator_actions_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE CASCADE;

--
-- Name: overlay_layouts overlay_layouts_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.overlay_layouts
    ADD CONSTRAINT overlay_layouts_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id);

--
-- Name: overlay_layouts overlay_layouts_proposal_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.overlay_layouts
    ADD CONSTRAINT overlay_layouts_proposal_id_fkey FOREIGN KEY (proposal_id) REFERENCES public.planner_proposals(proposal_id);

--
-- Name: planner_proposals planner_proposals_image_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.planner_proposals
    ADD CONSTRAINT planner_proposals_image_asset_id_fkey FOREIGN KEY (image_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: planner_proposals planner_proposals_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.planner_proposals
    ADD CONSTRAINT planner_proposals_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE CASCADE;

--
-- Name: renders renders_image_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.renders
    ADD CONSTRAINT renders_image_asset_id_fkey FOREIGN KEY (image_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: renders renders_overlay_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.renders
    ADD CONSTRAINT renders_overlay_id_fkey FOREIGN KEY (overlay_id) REFERENCES public.overlay_layouts(overlay_id);

--
-- Name: stage_runs stage_runs_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stage_runs
    ADD CONSTRAINT stage_runs_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id) ON DELETE CASCADE;

--
-- Name: stage_runs stage_runs_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stage_runs
    ADD CONSTRAINT stage_runs_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE CASCADE;

--
-- Name: stores stores_image_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stores
    ADD CONSTRAINT stores_image_id_fkey FOREIGN KEY (image_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: stores stores_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.stores
    ADD CONSTRAINT stores_user_id_fkey FOREIGN KEY (user_id) REFERENCES public.users(user_id);

--
-- Name: txt_ad_copy_generations txt_ad_copy_generations_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.txt_ad_copy_generations
    ADD CONSTRAINT txt_ad_copy_generations_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id) ON DELETE CASCADE;

--
-- Name: txt_ad_copy_generations txt_ad_copy_generations_llm_trace_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.txt_ad_copy_generations
    ADD CONSTRAINT txt_ad_copy_generations_llm_trace_id_fkey FOREIGN KEY (llm_trace_id) REFERENCES public.llm_traces(llm_trace_id) ON DELETE SET NULL;

--
-- Name: vlm_traces vlm_traces_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_traces
    ADD CONSTRAINT vlm_traces_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: vlm_traces vlm_traces_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_traces
    ADD CONSTRAINT vlm_traces_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE SET NULL;

--
-- Name: vlm_traces vlm_traces_prompt_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.vlm_traces
    ADD CONSTRAINT vlm_traces_prompt_id_fkey FOREIGN KEY (prompt_id) REFERENCES public.vlm_prompt_assets(prompt_asset_id) ON DELETE SET NULL;

--
-- Name: yolo_runs yolo_runs_image_asset_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.yolo_runs
    ADD CONSTRAINT yolo_runs_image_asset_id_fkey FOREIGN KEY (image_asset_id) REFERENCES public.image_assets(image_asset_id);

--
-- Name: yolo_runs yolo_runs_job_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.yolo_runs
    ADD CONSTRAINT yolo_runs_job_id_fkey FOREIGN KEY (job_id) REFERENCES public.jobs(job_id);

--
-- Name: yolo_runs yolo_runs_job_variants_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.yolo_runs
    ADD CONSTRAINT yolo_runs_job_variants_id_fkey FOREIGN KEY (job_variants_id) REFERENCES public.jobs_variants(job_variants_id) ON DELETE CASCADE;
