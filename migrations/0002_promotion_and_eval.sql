CREATE TYPE "public"."champion_change_kind" AS ENUM('register', 'promote', 'force-promote', 'rollback', 'reject');--> statement-breakpoint
CREATE TABLE "champion_changes" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"model_name" text NOT NULL,
	"kind" "champion_change_kind" NOT NULL,
	"from_version_id" uuid,
	"to_version_id" uuid NOT NULL,
	"actor" text NOT NULL,
	"reason" text NOT NULL,
	"round_id" uuid,
	"gate_report" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "eval_results" (
	"run_id" uuid NOT NULL,
	"benchmark" text NOT NULL,
	"question_id" text NOT NULL,
	"answer" integer NOT NULL,
	"predicted" integer NOT NULL,
	"predicted_norm" integer NOT NULL,
	"logprobs" jsonb NOT NULL
);
--> statement-breakpoint
CREATE TABLE "eval_runs" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model_version_id" uuid NOT NULL,
	"suite" text NOT NULL,
	"suite_version" integer NOT NULL,
	"settings" jsonb NOT NULL,
	"status" text NOT NULL,
	"summary" jsonb,
	"error" text,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE INDEX "champion_changes_model_idx" ON "champion_changes" USING btree ("model_name","created_at");--> statement-breakpoint
CREATE UNIQUE INDEX "eval_results_run_question_idx" ON "eval_results" USING btree ("run_id","benchmark","question_id");--> statement-breakpoint
CREATE INDEX "eval_runs_version_idx" ON "eval_runs" USING btree ("model_version_id");