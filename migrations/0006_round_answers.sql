CREATE TABLE "round_answers" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"round_id" uuid NOT NULL,
	"probe_set" text NOT NULL,
	"prompt_index" integer NOT NULL,
	"source" text NOT NULL,
	"messages" jsonb NOT NULL,
	"sample" integer NOT NULL,
	"seed" integer,
	"champion_text" text NOT NULL,
	"champion_finish_reason" text NOT NULL,
	"candidate_text" text NOT NULL,
	"candidate_finish_reason" text NOT NULL,
	"checks" jsonb NOT NULL,
	"verdict" text,
	"candidate_first" real,
	"candidate_second" real
);
--> statement-breakpoint
CREATE UNIQUE INDEX "round_answers_prompt_sample_idx" ON "round_answers" USING btree ("round_id","probe_set","prompt_index","sample");