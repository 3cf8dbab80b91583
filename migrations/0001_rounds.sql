CREATE TYPE "public"."round_state" AS ENUM('collecting', 'sampling', 'judging', 'training', 'converting', 'evaluating', 'promoted', 'rejected', 'failed');--> statement-breakpoint
CREATE TABLE "round_candidates" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"round_id" uuid NOT NULL,
	"prompt_id" integer NOT NULL,
	"index" integer NOT NULL,
	"source" text NOT NULL,
	"text" text NOT NULL,
	"seed" integer,
	"finish_reason" text,
	"completion_id" text,
	"score" real
);
--> statement-breakpoint
CREATE TABLE "round_metrics" (
	"round_id" uuid NOT NULL,
	"step" integer NOT NULL,
	"epoch" real,
	"values" jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "round_pairs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"round_id" uuid NOT NULL,
	"prompt_id" integer NOT NULL,
	"chosen" text NOT NULL,
	"rejected" text NOT NULL,
	"source" text NOT NULL,
	"margin" real,
	"split" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "round_prompts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"round_id" uuid NOT NULL,
	"prompt_hash" text NOT NULL,
	"messages" jsonb NOT NULL,
	"completion_ids" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "rounds" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model_name" text NOT NULL,
	"number" integer NOT NULL,
	"state" "round_state" NOT NULL,
	"base_version_id" uuid NOT NULL,
	"candidate_version_id" uuid,
	"config" jsonb NOT NULL,
	"since" timestamp with time zone,
	"until" timestamp with time zone NOT NULL,
	"dataset_path" text,
	"dataset_sha256" text,
	"stats" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"error" text,
	"error_detail" text,
	"created_by" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE UNIQUE INDEX "round_candidates_prompt_index_idx" ON "round_candidates" USING btree ("round_id","prompt_id","index");--> statement-breakpoint
CREATE UNIQUE INDEX "round_metrics_round_step_idx" ON "round_metrics" USING btree ("round_id","step");--> statement-breakpoint
CREATE UNIQUE INDEX "round_pairs_round_prompt_idx" ON "round_pairs" USING btree ("round_id","prompt_id");--> statement-breakpoint
CREATE UNIQUE INDEX "round_prompts_round_hash_idx" ON "round_prompts" USING btree ("round_id","prompt_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "rounds_model_number_idx" ON "rounds" USING btree ("model_name","number");--> statement-breakpoint
CREATE UNIQUE INDEX "model_versions_round_idx" ON "model_versions" USING btree ("round_id");