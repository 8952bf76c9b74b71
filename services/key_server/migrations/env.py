from services.common.alembic_env import run
from services.key_server.tables import metadata

run(metadata)
