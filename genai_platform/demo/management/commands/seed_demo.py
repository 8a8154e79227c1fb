import json
import os
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from genai_platform.demo.seed import demo_seed

EXAMPLE = """
  GenAI platform is ready ({mode})

  Portal     {root}/            login: {user} / {password}
  API docs   {root}/api/v1/docs/   (management API; OpenAPI schema at {root}/api/v1/schema/)
  Gateway    {base_url}            (OpenAI-compatible)
  API key    {key}
             production key of {lob}/{use_case}; shown once, stored only as a hash

  Chat:

    curl -s {base_url}/chat/completions \\
      -H "Authorization: Bearer {key}" \\
      -H "Content-Type: application/json" \\
      -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "Hello, platform!"}}]}}'

  Embeddings:

    curl -s {base_url}/embeddings \\
      -H "Authorization: Bearer {key}" \\
      -H "Content-Type: application/json" \\
      -d '{{"model": "{embedding_model}", "input": "mortgage overpayment"}}'

  Models this key may call:

    curl -s {base_url}/models -H "Authorization: Bearer {key}"

  With the openai SDK (pip install openai):

    from openai import OpenAI
    client = OpenAI(base_url="{base_url}", api_key="{key}")
    reply = client.chat.completions.create(model="{model}", messages=[{{"role": "user", "content": "Hello!"}}])
    print(reply.choices[0].message.content)
"""
GROUNDED = """
  Grounded answers: the {use_case} use case answers from the demo vector store {store}
  (three bank policies) and lists the chunks it cites in the reply's "sources" field:

    curl -s {base_url}/chat/completions \\
      -H "Authorization: Bearer {key}" \\
      -H "Content-Type: application/json" \\
      -d '{{"model": "{model}", "messages": [{{"role": "user", "content": "{question}"}}]}}'

    curl -s {base_url}/vector_stores/{store}/search \\
      -H "Authorization: Bearer {key}" \\
      -H "Content-Type: application/json" \\
      -d '{{"query": "mortgage overpayment charge", "max_num_results": 2}}'
"""


class Command(BaseCommand):
    help = "Create the demo admin, sandbox catalog, LOB and approved use case (idempotent) and issue a fresh key."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--json", action="store_true", help="Print what was made as JSON.")
        parser.add_argument("--base-url", default="", help="Public base URL of the API (default from PORT).")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PRODUCTION:
            raise CommandError("seed_demo creates a demo superuser and is refused when GENAI_ENV=production")
        root = options["base_url"].rstrip("/") or f"http://127.0.0.1:{os.environ.get('PORT', '8000')}"
        world = demo_seed(password_file=settings.VAR_DIR / "demo-admin-password")
        base_url = f"{root}/v1"
        if options["json"]:
            document = {
                "api_key": world.api_key,
                "model": world.chat_model,
                "embedding_model": world.embedding_model,
                "base_url": base_url,
                "admin": {"url": f"{root}/admin/", "username": world.admin_username, "password": world.admin_password},
                "lob": world.lob_slug,
                "use_case": world.use_case_slug,
                "grounded": None
                if world.grounded is None
                else {
                    "use_case": world.grounded.use_case_slug,
                    "vector_store_id": world.grounded.vector_store_id,
                    "key": world.grounded.api_key,
                    "question": world.grounded.question,
                },
            }
            self.stdout.write(json.dumps(document, indent=2))
            return
        self.stdout.write(
            EXAMPLE.format(
                mode=_describe_mode(),
                root=root,
                base_url=base_url,
                user=world.admin_username,
                password=world.admin_password,
                key=world.api_key,
                lob=world.lob_slug,
                use_case=world.use_case_slug,
                model=world.chat_model,
                embedding_model=world.embedding_model,
            )
        )
        if world.grounded is not None:
            self.stdout.write(
                GROUNDED.format(
                    base_url=base_url,
                    use_case=world.grounded.use_case_slug,
                    store=world.grounded.vector_store_id,
                    key=world.grounded.api_key,
                    model=world.chat_model,
                    question=world.grounded.question,
                )
            )
        else:
            self.stdout.write(f"  (No grounded demo: {world.grounded_unavailable})\n")


def _describe_mode() -> str:
    from django.db import connection

    tasks = "in-process worker" if settings.CELERY_TASK_ALWAYS_EAGER else "Celery workers on the provider queues"
    cache = "Redis" if settings.REDIS_URL else "local-memory cache"
    return f"{connection.vendor}, {tasks}, {cache}, sandbox provider"
