ALTER TABLE "completions" ADD COLUMN "upstream" text;--> statement-breakpoint
ALTER TABLE "model_versions" ADD COLUMN "upstream_model" text;