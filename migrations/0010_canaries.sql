CREATE TYPE "public"."canary_mode" AS ENUM('shadow', 'split');--> statement-breakpoint
CREATE TYPE "public"."canary_state" AS ENUM('running', 'promoted', 'rejected', 'stopped');--> statement-breakpoint
ALTER TYPE "public"."round_state" ADD VALUE 'canary' BEFORE 'promoted';--> statement-breakpoint
CREATE TABLE "canaries" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"model_name" text NOT NULL,
	"round_id" uuid,
	"champion_version_id" uuid NOT NULL,
	"candidate_version_id" uuid NOT NULL,
	"mode" "canary_mode" NOT NULL,
	"share" real NOT NULL,
	"state" "canary_state" NOT NULL,
	"rule" jsonb NOT NULL,
	"started_at" timestamp with time zone DEFAULT now() NOT NULL,
	"decided_at" timestamp with time zone,
	"evidence" jsonb,
	"decided_by" text,
	"reason" text
);
--> statement-breakpoint
CREATE TABLE "canary_pairs" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"canary_id" uuid NOT NULL,
	"champion_completion_id" text NOT NULL,
	"candidate_completion_id" text NOT NULL,
	"candidate_side" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "completions" ADD COLUMN "canary_id" uuid;--> statement-breakpoint
ALTER TABLE "completions" ADD COLUMN "shadow_of" text;--> statement-breakpoint
CREATE UNIQUE INDEX "canaries_one_running_idx" ON "canaries" USING btree ("model_name") WHERE "canaries"."state" = 'running';--> statement-breakpoint
CREATE INDEX "canaries_round_idx" ON "canaries" USING btree ("round_id");--> statement-breakpoint
CREATE UNIQUE INDEX "canary_pairs_champion_idx" ON "canary_pairs" USING btree ("canary_id","champion_completion_id");--> statement-breakpoint
CREATE UNIQUE INDEX "canary_pairs_candidate_idx" ON "canary_pairs" USING btree ("canary_id","candidate_completion_id");--> statement-breakpoint
CREATE INDEX "completions_canary_idx" ON "completions" USING btree ("canary_id");