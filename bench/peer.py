"""The peer users would pick instead: the same GET of an official by id, written the usual
FastAPI + SQLAlchemy 2 (async ORM) + pydantic way, against the same table and rows. Installed
with the ``bench`` extra; the benchmark skips it when that is missing."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel, ConfigDict
from sqlalchemy import Integer, String, Uuid
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class OfficialRow(Base):
    __tablename__ = "officials"
    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    name: Mapped[str] = mapped_column(String)
    other_names: Mapped[list[dict[str, Any]]] = mapped_column(JSONB)
    wikidata_id: Mapped[str | None] = mapped_column(String)
    nationality_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    note: Mapped[str | None] = mapped_column(String)


class OtherName(BaseModel):
    name: str
    lang: str | None = None
    note: str | None = None


class Official(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime
    name: str
    other_names: list[OtherName]
    wikidata_id: str | None
    nationality_id: uuid.UUID | None
    note: str | None


def _url() -> str:
    url = os.environ["ACCORD_DATABASE_URL"]
    return url.replace("postgresql://", "postgresql+asyncpg://", 1)


engine = create_async_engine(
    _url(), pool_size=int(os.environ.get("ACCORD_POOL_MAX_SIZE", "16")), max_overflow=0
)
sessions = async_sessionmaker(engine, expire_on_commit=False)


async def session() -> AsyncIterator[AsyncSession]:
    async with sessions() as db:
        yield db


@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    await engine.dispose()


app = FastAPI(lifespan=lifespan)


@app.get("/v1/officials/{official_id}", response_model=Official)
async def get_official(
    official_id: uuid.UUID, response: Response, db: Annotated[AsyncSession, Depends(session)]
) -> OfficialRow:
    official = await db.get(OfficialRow, official_id)
    if official is None:
        raise HTTPException(status_code=404)
    response.headers["ETag"] = f'"{official.version}"'
    return official
