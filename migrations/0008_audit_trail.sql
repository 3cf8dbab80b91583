CREATE TABLE "audit_chain_head" (
	"id" integer PRIMARY KEY NOT NULL,
	"last_seq" bigint NOT NULL,
	"last_hash" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "audit_events" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"at" timestamp with time zone NOT NULL,
	"actor_kind" text NOT NULL,
	"api_key_id" uuid,
	"actor_name" text,
	"person_subject" text,
	"person_email" text,
	"role" text NOT NULL,
	"action" text NOT NULL,
	"completion_ids" text[] DEFAULT '{}' NOT NULL,
	"query" jsonb DEFAULT '{}'::jsonb NOT NULL,
	"client_address" text,
	"user_agent" text,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL
);
--> statement-breakpoint
CREATE INDEX "audit_events_at_idx" ON "audit_events" USING btree ("at");--> statement-breakpoint
CREATE INDEX "audit_events_key_idx" ON "audit_events" USING btree ("api_key_id","at");--> statement-breakpoint
CREATE INDEX "audit_events_completion_ids_idx" ON "audit_events" USING gin ("completion_ids");