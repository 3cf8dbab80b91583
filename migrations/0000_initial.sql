CREATE TYPE "public"."api_key_role" AS ENUM('client', 'clinician', 'admin');--> statement-breakpoint
CREATE TYPE "public"."completion_status" AS ENUM('stop', 'length', 'cancelled', 'error');--> statement-breakpoint
CREATE TYPE "public"."feedback_kind" AS ENUM('rating', 'correction', 'comment', 'preference');--> statement-breakpoint
CREATE TYPE "public"."model_version_status" AS ENUM('candidate', 'evaluating', 'champion', 'rejected', 'retired');--> statement-breakpoint
CREATE TABLE "api_keys" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"role" "api_key_role" NOT NULL,
	"key_hash" text NOT NULL,
	"key_prefix" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "completions" (
	"id" text PRIMARY KEY NOT NULL,
	"created_at" timestamp with time zone NOT NULL,
	"request" jsonb NOT NULL,
	"messages" jsonb,
	"choices" jsonb,
	"stored" boolean NOT NULL,
	"status" "completion_status" NOT NULL,
	"error" text,
	"prompt_hash" text NOT NULL,
	"prompt_tokens" integer NOT NULL,
	"completion_tokens" integer NOT NULL,
	"latency_ms" real NOT NULL,
	"time_to_first_token_ms" real,
	"model_name" text NOT NULL,
	"model_version_id" uuid,
	"api_key_id" uuid,
	"trace_id" text NOT NULL,
	"user" text,
	"metadata" jsonb
);
--> statement-breakpoint
CREATE TABLE "feedback" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"completion_id" text NOT NULL,
	"kind" "feedback_kind" NOT NULL,
	"rating" integer,
	"rating_scale" text,
	"correction" text,
	"comment" text,
	"other_completion_id" text,
	"preference" text,
	"api_key_id" uuid NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "model_versions" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"name" text NOT NULL,
	"version" integer NOT NULL,
	"parent_id" uuid,
	"round_id" uuid,
	"hf_dir" text,
	"gguf_path" text NOT NULL,
	"gguf_sha256" text NOT NULL,
	"status" "model_version_status" NOT NULL,
	"dataset_sha256" text,
	"config" jsonb,
	"metrics" jsonb,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_key_hash_idx" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE INDEX "completions_created_at_idx" ON "completions" USING btree ("created_at");--> statement-breakpoint
CREATE INDEX "completions_prompt_hash_idx" ON "completions" USING btree ("prompt_hash");--> statement-breakpoint
CREATE INDEX "completions_model_idx" ON "completions" USING btree ("model_name","created_at");--> statement-breakpoint
CREATE INDEX "feedback_completion_idx" ON "feedback" USING btree ("completion_id");--> statement-breakpoint
CREATE UNIQUE INDEX "model_versions_name_version_idx" ON "model_versions" USING btree ("name","version");--> statement-breakpoint
CREATE UNIQUE INDEX "model_versions_one_champion_idx" ON "model_versions" USING btree ("name") WHERE "model_versions"."status" = 'champion';