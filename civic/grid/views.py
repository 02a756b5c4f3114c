from flask import Blueprint
bp = Blueprint("grid", __name__)
