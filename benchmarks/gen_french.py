"""Seeded generator of labelled French text (letters, notes, customer messages, chats) for the ``fr``
route of a policy (the dev corpus's JSONL shape: ``{"id", "text", "spans", "template"}``).

Run: ``.venv/bin/python -m benchmarks.gen_french [--count N] [--seed S] [--out FILE]``.

PII: people (first and last names), street addresses (``12 rue des Tilleuls``), postcodes and towns,
phone numbers (``+33 6 12 34 56 78``, ``06 12 34 56 78``), NIR (social security numbers with a valid
key), French IBANs (valid mod-97) and dates of birth. Every name, street and town below is invented and
written by hand for this file (no list from a data generator, no corpus the project evaluates on); the
identifiers are computed from their public check-digit rules (``policies.checksums``).
"""

from __future__ import annotations

import random
from collections.abc import Callable

from .gen_freetext import Doc, generate_from, generator_cli
from .gen_identifiers import iban, nir

PRENOMS = ["Aurélien", "Maëlle", "Gaspard", "Solène", "Thibaut", "Albane", "Ludovic", "Clémence",
           "Eudes", "Bérénice", "Anatole", "Ombeline", "Firmin", "Héloïse", "Grégoire", "Capucine"]
NOMS = ["Vaudrecourt", "Lemarchal", "Bertignac", "Fourquet", "Delaunoy", "Rabastens", "Morvillier",
        "Charpenel", "Quessard", "Tourneval", "Bazergues", "Ollivrac", "Pétremand", "Sauvignet"]
VOIES = ["rue", "avenue", "boulevard", "chemin", "impasse", "allée", "place"]
NOMS_VOIES = ["des Glycines", "du Vieux Pressoir", "de la Tuilerie", "des Ormeaux", "du Pré Fleuri",
              "de la Croix Blanche", "des Sablons", "du Four à Chaux"]
VILLES = ["Montbrison-sur-Lize", "Saint-Véran-les-Bois", "Courtelac", "Villefranche-d'Aubrac",
          "Pontarmé-le-Haut", "Belcastel-sur-Orne", "Mérignolles"]
CIVILITES = ["Madame", "Monsieur"]
MOIS = ["janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre",
        "octobre", "novembre", "décembre"]
# Sentences with no PII: the words that must survive (retention).
PHRASES = [
    "Nous avons bien reçu votre demande et nous vous remercions de votre patience.",
    "Le colis a été expédié ce matin par transporteur.",
    "La facture du mois dernier comporte une erreur de montant.",
    "Le service client est ouvert du lundi au vendredi.",
    "Votre contrat sera renouvelé automatiquement à la date prévue.",
    "Merci de nous retourner le formulaire signé avant la fin de la semaine.",
    "Le rendez-vous de suivi est confirmé.",
]


def _person(rng: random.Random, doc: Doc) -> str:
    name = f"{rng.choice(PRENOMS)} {rng.choice(NOMS)}"
    doc.add(name, "PERSON")
    return name


def _phone(rng: random.Random, doc: Doc) -> None:
    pairs = " ".join(f"{rng.randint(0, 99):02d}" for _ in range(4))
    value = f"+33 {rng.choice('67')} {pairs}" if rng.random() < 0.5 else f"0{rng.choice('1234567')} {pairs}"
    doc.add(value, "PHONE_NUMBER")


def _address(rng: random.Random, doc: Doc, sep: str) -> None:
    street = f"{rng.randint(1, 180)} {rng.choice(VOIES)} {rng.choice(NOMS_VOIES)}"
    doc.add(street, "STREET_ADDRESS").add(sep)
    doc.add(f"{rng.randint(1, 95):02d}{rng.randint(0, 999):03d}", "ZIP_CODE").add(" ")
    doc.add(rng.choice(VILLES), "GPE")


def _date(rng: random.Random, doc: Doc) -> None:
    doc.add(f"{rng.randint(1, 28)} {rng.choice(MOIS)} {rng.randint(1940, 2005)}", "DATE_TIME")


def letter(rng: random.Random) -> Doc:
    doc = Doc()
    doc.add(f"{rng.choice(CIVILITES)} ")
    _person(rng, doc)
    doc.add("\n")
    _address(rng, doc, "\n")
    doc.add(f"\n\n{rng.choice(['Madame', 'Monsieur'])},\n\n{rng.choice(PHRASES)} ")
    doc.add("Le remboursement sera versé sur votre compte ")
    doc.add(iban(rng, "FR"), "IBAN_CODE")
    doc.add(". Pour toute question, vous pouvez nous joindre au ")
    _phone(rng, doc)
    doc.add(".\n\nCordialement,\n")
    _person(rng, doc)
    return doc


def medical_note(rng: random.Random) -> Doc:
    doc = Doc()
    doc.add("Le patient ")
    _person(rng, doc)
    doc.add(", né le ")
    _date(rng, doc)
    doc.add(", numéro de sécurité sociale ")
    doc.add(nir(rng), "FR_NIR")
    doc.add(", habite au ")
    _address(rng, doc, ", ")
    doc.add(f". {rng.choice(PHRASES)} Il a été reçu par le docteur ")
    _person(rng, doc)
    doc.add(".")
    return doc


def customer_message(rng: random.Random) -> Doc:
    doc = Doc()
    doc.add("Bonjour, je m'appelle ")
    _person(rng, doc)
    doc.add(" et je souhaite changer mon adresse de livraison pour le ")
    _address(rng, doc, " ")
    doc.add(". Mon numéro est le ")
    _phone(rng, doc)
    doc.add(f". {rng.choice(PHRASES)}")
    return doc


def chat(rng: random.Random) -> Doc:
    doc = Doc()
    doc.add("Agent : Bonjour, que puis-je faire pour vous ?\nClient : Bonjour, c'est ")
    _person(rng, doc)
    doc.add(", je n'ai pas reçu mon colis.\nAgent : Pouvez-vous confirmer votre numéro de téléphone ?\n")
    doc.add("Client : Oui, c'est le ")
    _phone(rng, doc)
    doc.add(f".\nAgent : Merci. {rng.choice(PHRASES)}")
    return doc


TEMPLATES: dict[str, Callable[[random.Random], Doc]] = {
    "letter": letter, "medical_note": medical_note, "customer_message": customer_message, "chat": chat,
}


def generate(count: int, seed: int) -> list[dict]:
    return generate_from(TEMPLATES, count, seed)


def main(argv: list[str] | None = None) -> int:
    return generator_cli(generate, argv, description=__doc__.splitlines()[0], count=200, seed=33)


if __name__ == "__main__":
    raise SystemExit(main())
