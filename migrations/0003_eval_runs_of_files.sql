ALTER TABLE "eval_runs" ALTER COLUMN "model_version_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "eval_runs" ADD COLUMN "gguf_path" text;--> statement-breakpoint
ALTER TABLE "eval_runs" ADD COLUMN "gguf_sha256" text;