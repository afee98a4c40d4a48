"""Sign-in: OAuth2 password flow for API clients, a session cookie for the web pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm
from pydantic import BaseModel

from cityops.api.deps import SESSION_COOKIE, CurrentUser, Db
from cityops.api.v1.models import UserOut
from cityops.services.users import authenticate, issue_token

router = APIRouter(prefix="/auth", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


@router.post("/token", response_model=TokenOut, summary="Sign in (OAuth2 password flow)")
def token(
    request: Request, session: Db, form: Annotated[OAuth2PasswordRequestForm, Depends()]
) -> TokenOut:
    user = authenticate(session, form.username, form.password)
    issued = issue_token(
        user, request.app.state.secret, request.app.state.settings.token_ttl_minutes
    )
    return TokenOut(access_token=issued.token, expires_in=issued.expires_in)


@router.post("/session", response_model=UserOut, summary="Sign in and set the session cookie")
def session_login(
    request: Request,
    response: Response,
    session: Db,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> UserOut:
    user = authenticate(session, form.username, form.password)
    issued = issue_token(
        user, request.app.state.secret, request.app.state.settings.token_ttl_minutes
    )
    response.set_cookie(
        SESSION_COOKIE,
        issued.token,
        max_age=issued.expires_in,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return UserOut.of(user)


@router.delete("/session", status_code=204, summary="Sign out (clear the session cookie)")
def session_logout(response: Response) -> Response:
    response.delete_cookie(SESSION_COOKIE)
    response.status_code = 204
    return response


@router.get("/me", response_model=UserOut, summary="The signed-in user")
def me(user: CurrentUser) -> UserOut:
    return UserOut.of(user)
