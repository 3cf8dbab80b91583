CREATE TABLE "canary_judge_verdicts" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"canary_id" uuid NOT NULL,
	"pair_id" bigint NOT NULL,
	"judge" text NOT NULL,
	"verdict" text NOT NULL,
	"candidate_first" real,
	"candidate_second" real,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "canary_judge_verdicts_pair_idx" ON "canary_judge_verdicts" USING btree ("pair_id");--> statement-breakpoint
CREATE INDEX "canary_judge_verdicts_canary_idx" ON "canary_judge_verdicts" USING btree ("canary_id");