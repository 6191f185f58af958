"""API routes: annotate (to be filled in)."""
from fastapi import APIRouter

router = APIRouter(prefix="/api")
