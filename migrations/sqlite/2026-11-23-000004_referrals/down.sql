DROP TABLE cases;
DROP TABLE referral_assessments;
DROP TABLE referrals;
